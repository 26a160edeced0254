"""The background writer: records wait in memory, are written in batches, and are never out
of sight of a reader (queued, being written, or stored)."""

from __future__ import annotations

import threading

import pytest

from cartwise.store.writer import BackgroundWriter


def test_a_batch_being_written_is_still_queued_until_it_is_stored():
    stored: list[int] = []
    entered, release = threading.Event(), threading.Event()

    def slow_write(batch):
        entered.set()
        assert release.wait(5)
        stored.extend(batch)

    writer = BackgroundWriter(slow_write, what="numbers", flush_interval_s=60)
    writer.record(1)
    writer.record(2)
    flushing = threading.Thread(target=writer.flush)
    flushing.start()
    assert entered.wait(5)
    writer.record(3)
    assert writer.queued() == [1, 2, 3] and stored == []  # 1 and 2 are being written: still seen
    release.set()
    flushing.join(5)
    assert stored == [1, 2] and writer.queued() == [3]
    writer.close()
    assert stored == [1, 2, 3] and writer.queued() == [] and writer.written == 3


def test_a_failed_write_keeps_the_batch_queued_in_order_for_the_next_flush():
    calls: list[list[int]] = []

    def failing_once(batch):
        calls.append(list(batch))
        if len(calls) == 1:
            raise OSError("disk full")

    writer = BackgroundWriter(failing_once, what="numbers", flush_interval_s=60)
    writer.record(1)
    with pytest.raises(OSError):
        writer.flush()
    writer.record(2)
    assert writer.queued() == [1, 2]
    assert writer.flush() == 2 and calls == [[1], [1, 2]] and writer.queued() == []
    writer.close()


def test_beyond_its_buffer_the_writer_drops_the_oldest_and_counts_them():
    stored: list[int] = []
    healthy = threading.Event()

    def write(batch):
        if not healthy.is_set():
            raise OSError("the database is down")
        stored.extend(batch)

    writer = BackgroundWriter(write, what="numbers", flush_interval_s=60, max_buffer=3, max_pending=100)
    for n in range(5):
        writer.record(n)
    assert writer.queued() == [2, 3, 4] and writer.dropped == 2
    healthy.set()
    writer.close()
    assert stored == [2, 3, 4]
    with pytest.raises(RuntimeError, match="writer is closed"):
        writer.record(9)
