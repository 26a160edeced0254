"""Buses for the tests: the real Redis and NATS JetStream servers on this machine
(``$CARTWISE_TEST_REDIS``, ``$CARTWISE_TEST_NATS``); a test of one whose server does not
answer is skipped. Each test uses a fresh store, so its streams are its own; they are
deleted afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cartwise.store import open_store
from cartwise.store.base import Store

SERVERS = {
    "redis": os.environ.get("CARTWISE_TEST_REDIS", "redis://127.0.0.1:6379/0"),
    "nats": os.environ.get("CARTWISE_TEST_NATS", "nats://127.0.0.1:4222"),
}


def answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def bus_url_for(kind: str, **options: str) -> str:
    url = SERVERS[kind]
    if not answers(url):
        pytest.skip(f"no {kind} server answered at {url}")
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"{url}?{query}" if query else url


def remove_streams(url: str, store_id: str) -> None:
    """Delete what a test's store made on the bus."""
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url.split("?")[0])
        client.delete(f"cartwise:{store_id}:events", f"cartwise:{store_id}:dead")
        client.close()
    else:
        import asyncio

        import nats

        async def drop() -> None:
            nc = await nats.connect(url.split("?")[0])
            js = nc.jetstream()
            for name in (f"CARTWISE_{store_id}", f"CARTWISE_DEAD_{store_id}"):
                with contextlib.suppress(Exception):  # already gone
                    await js.delete_stream(name)
            await nc.close()

        asyncio.run(drop())


@pytest.fixture(params=["redis", "nats"])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bus_url(bus_kind: str) -> str:
    return bus_url_for(bus_kind, reclaim_after="1")


@pytest.fixture
def store(tmp_path: Path, bus_url: str) -> Iterator[Store]:
    opened = open_store(tmp_path / "store")
    yield opened
    remove_streams(bus_url, opened.store_id)
    opened.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateServer:
    """A Redis or NATS JetStream server of this test's own (so it may be stopped)."""

    def __init__(self, kind: str, directory: Path, *, durable: bool = False) -> None:
        """`durable`: Redis keeps an append-only file fsync'd on every write (what a bus
        that must survive a restart runs with); JetStream always stores on disk."""
        import shutil

        binary = shutil.which("redis-server" if kind == "redis" else "nats-server")
        if binary is None:
            pytest.skip(f"no {kind} server binary here")
        self.kind = kind
        self.port = free_port()
        if kind == "redis":
            aof = ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
            self.command = [binary, "--port", str(self.port), "--save", "", *aof, "--dir", str(directory)]
            self.url = f"redis://127.0.0.1:{self.port}/0"
        else:
            self.command = [binary, "-js", "-p", str(self.port), "-sd", str(directory), "-a", "127.0.0.1"]
            self.url = f"nats://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        """Start the server (again: same port, same data directory)."""
        import subprocess
        import time

        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not answers(self.url):
            assert self.process.poll() is None and time.monotonic() < deadline, f"{self.kind} server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """kill -9: no shutdown of any kind."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def private_server(bus_kind: str, tmp_path: Path) -> Iterator[PrivateServer]:
    server = PrivateServer(bus_kind, tmp_path)
    yield server
    server.stop()
