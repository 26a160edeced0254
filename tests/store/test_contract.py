"""The contract every store back end passes (Gorse runs one suite on each of its back ends).

The back ends come from the store registry, so a new one registered with
:func:`cartwise.store.register_store` runs this suite without an edit here; one that
cannot make a scratch store on this machine (no server configured) is skipped.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from dataclasses import replace

import polars as pl
import pytest

from cartwise.errors import StoreError
from cartwise.store import (
    AssistantFeedback,
    AssistantTurn,
    AuditEntry,
    IngestRun,
    StoredExperiment,
    StoredKey,
    open_store,
    store_backends,
)
from cartwise.store.frames import EVENT_SCHEMA, ITEM_SCHEMA


def items(*ids: str, title: str = "Mug") -> pl.DataFrame:
    return pl.DataFrame({"item_id": list(ids), "title": [f"{title} {i}" for i in ids], "price": [1.5] * len(ids)})


def events(n: int, *, start_key: int = 1, user: str = "u1", event_type: str = "view") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_key": list(range(start_key, start_key + n)),
            "user_id": [user] * n,
            "item_id": [f"i{k % 3}" for k in range(n)],
            "event_type": [event_type] * n,
            "ts": [1_600_000_000_000 + k for k in range(n)],
        }
    )


def key(prefix: str, *, scope: str = "search") -> StoredKey:
    return StoredKey(0, prefix, f"sha-{prefix}", scope, f"name {prefix}", 1_700_000_000_000)


@pytest.fixture(params=store_backends(), ids=lambda backend: backend.name)
def url(request, tmp_path):
    backend = request.param
    made = backend.scratch_url(tmp_path)
    if made is None:
        why = backend.scratch_needs or "no reason given"
        pytest.skip(f"the {backend.name} back end cannot make a scratch store here: {why}")
    yield made
    if backend.discard_scratch is not None:
        backend.discard_scratch(made)


@pytest.fixture
def store(url):
    opened = open_store(url)
    yield opened
    opened.close()


def test_registry_lists_the_embedded_default():
    assert "sqlite" in [backend.name for backend in store_backends()]


# identity and files --------------------------------------------------------------------


def test_new_store_is_empty_with_an_identity_kept_on_reopening(url, store):
    stats = store.stats()
    assert (stats.items, stats.events, stats.users, stats.flagged_users) == (0, 0, 0, 0)
    assert store.versions() == (0, 0) and store.keys_version() == 0
    assert len(store.store_id) == 32
    reopened = open_store(url, create=False)
    assert reopened.store_id == store.store_id
    reopened.close()


def test_missing_store_without_create_is_a_store_error(url):
    with pytest.raises(StoreError):
        open_store(url, create=False)


def test_workspace_directories_exist(store):
    assert store.workspace.models_dir.is_dir() and store.workspace.reports_dir.is_dir()


# catalog -------------------------------------------------------------------------------


def test_upsert_is_idempotent_and_versions_move_only_on_change(store):
    assert store.upsert_items(items("a", "b")) == 2
    version = store.versions()
    assert store.upsert_items(items("a", "b")) == 0
    assert store.versions() == version
    assert store.upsert_items(items("a", title="Cup")) == 1
    assert store.versions() == (version[0] + 1, version[1])
    assert store.get_items(["a"])["title"].to_list() == ["Cup a"]
    store.upsert_items(pl.concat([items("c", title="First"), items("c", title="Last")]))
    assert store.get_items(["c"])["title"].to_list() == ["Last c"]  # the last row of an id wins


def test_items_come_back_in_the_frame_layout_ordered_by_id(store):
    frame = pl.DataFrame(
        {"item_id": ["b", "a"], "title": ["B", "A"], "in_stock": [False, None], "attributes": ['{"c": 1}', None]}
    )
    store.upsert_items(frame)
    stored = store.items()
    assert stored.schema == pl.Schema(ITEM_SCHEMA)
    assert stored["item_id"].to_list() == ["a", "b"]
    assert stored["in_stock"].to_list() == [True, False]  # missing means in stock
    assert stored["attributes"].to_list() == [None, '{"c": 1}']


def test_get_items_skips_missing_and_deleted_ids_in_long_lists(store):
    ids = [f"i{n:04d}" for n in range(2000)]
    store.upsert_items(items(*ids))
    store.delete_items(["i0001"])
    got = store.get_items([*ids, "missing", "i0000"])
    assert sorted(got["item_id"].to_list()) == sorted(set(ids) - {"i0001"})
    assert store.get_items([]).is_empty()


def test_delete_hides_item_and_upsert_brings_it_back(store):
    store.upsert_items(items("a", "b"))
    catalog_version = store.versions()[0]
    assert store.delete_items(["a", "missing"]) == 1
    assert store.versions()[0] == catalog_version + 1
    assert store.delete_items(["a"]) == 0
    assert store.versions()[0] == catalog_version + 1
    assert store.item_ids() == {"b"}
    assert store.item_ids(include_deleted=True) == {"a", "b"}
    assert store.items()["item_id"].to_list() == ["b"]
    assert store.items(include_deleted=True).height == 2
    assert store.stats().deleted_items == 1
    assert store.upsert_items(items("a")) == 1
    assert store.item_ids() == {"a", "b"}


def test_awkward_text_and_numbers_come_back_exactly(store):
    awkward = ['say "hi", then\nleave', "tab\there\r\n", "back\\slash \\N", "", "红色 🍵 ü", " padded "]
    frame = pl.DataFrame(
        {
            "item_id": [f"x{n}" for n in range(len(awkward))],
            "title": awkward,
            "description": [None, "", *awkward[2:]],
            "price": [0.1 + 0.2, 1e-300, -0.0, 123456789.125, None, 2.5],
            "attributes": ['{"a": "b,\\"c\\""}', None, "{}", '{"n": "line\\nnext"}', "", None],
            "created_at": [2**62, -1, 0, None, 1, 2],
        }
    )
    store.upsert_items(frame)
    stored = store.items()  # ordered by id: x0, x1, ... as sent
    for column in ("item_id", "title", "description", "price", "attributes", "created_at"):
        assert stored[column].to_list() == frame[column].to_list(), column
    assert store.get_items(["x3"])["title"].to_list() == [awkward[3]]
    sent = events(len(awkward)).with_columns(
        pl.Series("query", awkward), pl.Series("context", [None, "", *awkward[2:]]),
        pl.Series("value", [0.1, None, 1e308, -2.5, 0.0, 3.0]), pl.Series("position", [1, None, 3, 4, 5, 2**40]),
    )
    store.insert_events(sent)
    back = store.events()
    for column in ("query", "context", "value", "position", "user_id", "ts"):
        assert back[column].to_list() == sent[column].to_list(), column


# events --------------------------------------------------------------------------------


def test_events_are_deduplicated_by_key(store):
    assert store.insert_events(events(10)) == 10
    events_version = store.versions()[1]
    assert store.insert_events(events(10)) == 0
    assert store.versions()[1] == events_version
    assert store.insert_events(events(10, start_key=5)) == 4
    assert store.versions()[1] == events_version + 1
    assert store.stats().events == 14
    assert store.insert_events(pl.concat([events(2, start_key=50), events(2, start_key=50)])) == 2  # repeats in a batch
    assert store.stats().events == 16
    assert store.events().schema == pl.Schema(EVENT_SCHEMA)


def test_events_log_stamps_each_commit_with_the_version_it_left(store):
    assert store.commits_since(0) == []
    store.insert_events(events(3))
    first = store.versions()[1]
    with store.transaction():  # two inserts in one commit: one stamp
        store.insert_events(events(2, start_key=10))
        store.insert_events(events(1, start_key=20))
    second = store.versions()[1]
    store.insert_events(events(3))  # all already stored: no stamp, no new version
    store.flag_users(pl.DataFrame({"user_id": ["bot"], "reason": ["too fast"], "peak_per_minute": [500]}))
    assert store.versions()[1] == second + 1
    assert store.commits_since(0) == [(first, 3), (second, 3)]
    assert store.commits_since(first) == [(second, 3)]
    assert store.commits_since(0, limit=1) == [(first, 3)]
    logged = store.events_since(0, through=second)
    assert logged["event_key"].to_list() == [1, 2, 3, 10, 11, 20]
    assert logged["committed"].to_list() == [first] * 3 + [second] * 3
    assert store.events_since(first, through=second)["event_key"].to_list() == [10, 11, 20]
    assert store.events_since(0, through=first)["event_key"].to_list() == [1, 2, 3]
    assert store.events_since(second, through=second + 5).is_empty()


def test_a_reader_following_the_events_log_misses_nothing_while_writers_race(url):
    """Whatever the version a follower reads, every event stamped up to it is visible."""
    writers = [open_store(url) for _ in range(3)]
    reader = open_store(url)
    done = threading.Event()
    seen: list[int] = []

    def write(store, offset):
        for batch in range(25):
            store.insert_events(events(4, start_key=offset + batch * 4, user=f"u{offset}"))

    def follow():
        cursor = 0
        while True:
            finished = done.is_set()
            version = reader.versions()[1]
            seen.extend(reader.events_since(cursor, through=version)["event_key"].to_list())
            cursor = version
            if finished:
                return

    threads = [threading.Thread(target=write, args=(w, 1000 * (n + 1))) for n, w in enumerate(writers)]
    follower = threading.Thread(target=follow)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    follower.join()
    try:
        assert sorted(seen) == sorted(set(seen))  # nothing twice
        assert len(seen) == 3 * 25 * 4  # nothing missed
    finally:
        for store in (*writers, reader):
            store.close()


def test_impressions_of_named_requests_come_with_their_items_in_order(store):
    impressions = pl.DataFrame({"request_id": ["r2", "r1", "r3"], "ts": [5, 6, 7], "placement": ["recommend"] * 3,
                                "user_id": ["u1", "u2", None], "source": ["engine"] * 3})
    shown = pl.DataFrame({"request_id": ["r1", "r1", "r2", "r3"], "position": [2, 1, 1, 1],
                          "item_id": ["b", "a", "c", "d"]})
    store.insert_impressions(impressions, shown)
    got = store.impressions_of(["r2", "r1", "nope", "r1"])
    assert got.select("request_id", "position", "item_id", "user_id").rows() == [
        ("r1", 1, "a", "u2"), ("r1", 2, "b", "u2"), ("r2", 1, "c", "u1")]
    assert got["ts"].to_list() == [6, 6, 5] and set(got["placement"]) == {"recommend"}
    assert store.impressions_of([]).is_empty() and store.impressions_of(["nope"]).is_empty()


def test_user_events_newest_first(store):
    store.insert_events(events(5))
    recent = store.user_events("u1", limit=2)
    assert recent["ts"].to_list() == [1_600_000_000_004, 1_600_000_000_003]
    assert store.user_events("nobody").is_empty()


def test_recent_events_of_many_users_in_one_read_match_each_users_own(store):
    store.insert_events(pl.concat([events(5), events(3, start_key=10, user="u2"), events(1, start_key=20, user="u0")]))
    both = store.recent_events(["u2", "u1", "nobody", "u1"], limit=2)
    assert both.schema == pl.Schema(EVENT_SCHEMA)
    assert both.rows() == store.user_events("u1", limit=2).rows() + store.user_events("u2", limit=2).rows()
    assert store.recent_events([], limit=5).is_empty()


def test_flagged_users_are_excluded_from_training_events_and_queries(store):
    store.insert_events(events(5, user="bot", event_type="search").with_columns(pl.lit("spam").alias("query")))
    store.insert_events(events(3, start_key=100, user="human", event_type="search").with_columns(
        pl.Series("query", [" Red Mug", "red mug", "tea"])
    ))
    events_version = store.versions()[1]
    assert store.flag_users(pl.DataFrame({"user_id": ["bot"], "reason": ["too fast"], "peak_per_minute": [500]})) == 1
    assert store.versions()[1] == events_version + 1
    assert set(store.events()["user_id"].to_list()) == {"human"}
    assert store.events(exclude_flagged=False).height == 8
    assert store.stats().flagged_users == 1
    assert store.flagged_users()["user_id"].to_list() == ["bot"]
    assert store.popular_queries() == [("red mug", 2.0), ("tea", 1.0)]


def test_ingest_runs_are_recorded_newest_first(store):
    first = store.record_ingest(IngestRun(0, "items", "a.csv", 1, 2, 3, 3, 0, 0, None))
    second = store.record_ingest(IngestRun(0, "events", "f.csv", 1, 2, 10, 8, 1, 1, "r.jsonl"))
    runs = store.ingest_runs()
    assert [run.run_id for run in runs] == [second, first]
    assert runs[0].rows_written == 8 and runs[0].report_path == "r.jsonl"
    assert len(store.ingest_runs(limit=1)) == 1


# API keys ------------------------------------------------------------------------------


def test_keys_are_added_listed_and_revoked(store):
    first = store.add_key(key("aaaa"))
    second = store.add_key(key("bbbb", scope="admin"))
    assert first.key_id != second.key_id and store.keys_version() == 2
    listed = store.keys()
    assert [(k.prefix, k.scope, k.revoked_ms) for k in listed] == [("aaaa", "search", None), ("bbbb", "admin", None)]
    assert store.revoke_key(first.key_id, 1_800_000_000_000)
    assert store.keys_version() == 3
    assert not store.revoke_key(first.key_id, 1_900_000_000_000)  # already revoked
    assert not store.revoke_key(999_999, 1)
    assert store.keys_version() == 3
    assert store.keys()[0].revoked_ms == 1_800_000_000_000
    assert store.keys()[1] == second


def test_a_key_keeps_its_rate_limit_and_a_change_bumps_the_keys_version(url, store):
    limited = store.add_key(replace(key("rrrr"), rate_per_s=2.5, burst=10))
    plain = store.add_key(key("pppp"))
    assert [(k.rate_per_s, k.burst) for k in store.keys()] == [(2.5, 10), (None, None)]
    version = store.keys_version()
    assert store.set_key_rate(plain.key_id, 50.0, 100) and store.keys_version() == version + 1
    assert store.set_key_rate(limited.key_id, None, None)
    assert not store.set_key_rate(999_999, 1.0, 1)
    reopened = open_store(url, create=False)
    assert [(k.prefix, k.rate_per_s, k.burst) for k in reopened.keys()] == [("rrrr", None, None), ("pppp", 50.0, 100)]
    reopened.close()


# audit log ------------------------------------------------------------------------------


def test_audit_entries_are_kept_in_order_and_read_since_a_time(url, store):
    assert store.audit() == []
    first = store.add_audit(AuditEntry(0, 1_000, "cw_admin_abcd1234", "items.upsert", "mug", "1 item"))
    second = store.add_audit(AuditEntry(0, 2_000, "cli:alice", "keys.create", "cw_search_x", None))
    third = store.add_audit(AuditEntry(0, 3_000, "cw_admin_abcd1234", "models.rollback", None, "because"))
    assert first.audit_id < second.audit_id < third.audit_id
    assert store.audit() == [first, second, third]
    assert store.audit(since_ms=2_000) == [second, third]
    assert store.audit(limit=2) == [second, third]  # the newest, oldest first
    assert store.audit(since_ms=5_000) == []
    reopened = open_store(url, create=False)
    assert reopened.audit() == [first, second, third]
    reopened.close()


def test_an_audit_entry_written_in_a_rolled_back_transaction_is_gone(store):
    with pytest.raises(KeyboardInterrupt), store.transaction():
        store.add_audit(AuditEntry(0, 1, "cli:bob", "items.delete", "mug"))
        raise KeyboardInterrupt
    assert store.audit() == []


# experiments -----------------------------------------------------------------------------


def test_experiments_are_created_replaced_and_counted(url, store):
    assert store.experiments() == [] and store.experiments_version() == 0
    first = StoredExperiment("exp-1", "ranking test", "running", 1_000, 1_000, '{"variants": []}')
    second = StoredExperiment("exp-2", "rules test", "running", 2_000, 2_000, '{"variants": [1]}')
    store.put_experiment(second)
    store.put_experiment(first)
    assert store.experiments() == [first, second]  # oldest first
    stopped = replace(first, status="stopped", updated_ms=3_000, definition='{"stopped": true}')
    store.put_experiment(stopped)
    assert store.experiments() == [stopped, second] and store.experiments_version() == 3
    reopened = open_store(url, create=False)
    assert reopened.experiments() == [stopped, second] and reopened.experiments_version() == 3
    reopened.close()


def test_an_experiment_written_in_a_rolled_back_transaction_is_gone(store):
    with pytest.raises(KeyboardInterrupt), store.transaction():
        store.put_experiment(StoredExperiment("exp-x", "x", "running", 1, 1, "{}"))
        raise KeyboardInterrupt
    assert store.experiments() == [] and store.experiments_version() == 0


# the assistant's turns and ratings ----------------------------------------------------


def turn(answer_id: str, ts: int, *, conversation: str | None = "c1", number: int = 1, handoff: bool = False,
         **extra) -> AssistantTurn:
    return AssistantTurn(answer_id=answer_id, ts=ts, conversation_id=conversation, turn=number,
                         message=f"question {answer_id} 中文", route="product", confidence=0.8125,
                         answered=not handoff, handoff=handoff, reply="From the bullets: \u201cyes\u201d", **extra)


def test_assistant_turns_are_kept_in_order_and_duplicates_ignored(url, store):
    assert store.assistant_turns() == [] and store.last_assistant_turn("c1") is None
    first = turn("a1", 1_000, item_id="kettle", about_item_id="kettle", evidence=("kettle:bullets:0", "faq:2"),
                 user_id="u1")
    second = turn("a2", 2_000, number=2, about_item_id="kettle", query=None)
    other = turn("b1", 1_500, conversation="c2", items=("mug", "cup"), query="red mug", handoff=True)
    assert store.add_assistant_turns([first, second]) == 2
    assert store.add_assistant_turns([other, first]) == 1  # a1 again: ignored
    assert store.assistant_turns() == [first, other, second]  # oldest first, every field back
    assert store.assistant_turns(since_ms=1_500) == [other, second]
    assert store.assistant_turn("a1") == first and store.assistant_turn("nope") is None
    assert store.last_assistant_turn("c1") == second and store.last_assistant_turn("c2") == other
    assert store.last_assistant_turn("c3") is None
    reopened = open_store(url, create=False)
    assert reopened.last_assistant_turn("c1") == second
    reopened.close()


def test_the_store_counts_turns_and_groups_the_questions_handed_off(store):
    worded = [
        (turn("h1", 1_000, conversation="a", handoff=True, item_id="kettle"), "Does it fit a 65-inch TV?"),
        (turn("h2", 2_000, conversation="b", handoff=True, item_id="tv-stand"), "does it  fit a 65-INCH tv?"),
        (turn("h3", 3_000, conversation="c", handoff=True, item_id="kettle"), "does it fit a 65-inch tv?"),
        (turn("h4", 2_500, conversation="d", handoff=True), "怎么开发票？"),
        (turn("h5", 4_000, conversation="e", handoff=True), "do you price match?"),
        (turn("a1", 1_500, conversation="f"), "is it glass?"),
        (replace(turn("s1", 1_600, conversation="g"), route="shopping"), "red mugs"),
    ]
    store.add_assistant_turns([replace(t, message=message) for t, message in worded])
    assert sorted(store.assistant_counts()) == [("product", False, True, 5), ("product", True, False, 1),
                                                ("shopping", True, False, 1)]
    assert store.assistant_counts(since_ms=3_500) == [("product", False, True, 1)]
    groups = store.assistant_handoffs()
    # The same question three ways counts once: its first wording, 3 times, its products in
    # order of first mention; then the most recent of the single questions first.
    assert [(g.message, g.times, g.last_ms, g.item_ids) for g in groups] == [
        ("Does it fit a 65-inch TV?", 3, 3_000, ("kettle", "tv-stand")),
        ("do you price match?", 1, 4_000, ()),
        ("怎么开发票？", 1, 2_500, ()),
    ]
    assert [g.times for g in store.assistant_handoffs(since_ms=1_500, limit=1)] == [2]
    assert store.assistant_handoffs(since_ms=9_000) == []


def test_turns_are_read_by_answer_id_in_batches(store):
    store.add_assistant_turns([turn(f"t{n}", n) for n in range(3)])
    wanted = ["t2", *(f"missing-{n}" for n in range(1_200)), "t0", "t2"]
    assert [t.answer_id for t in store.assistant_turns_of(wanted)] == ["t0", "t2"]
    assert store.assistant_turns_of([]) == []


def test_assistant_ratings_are_kept_and_a_repeat_is_ignored(store):
    liked = AssistantFeedback("a1", 1_000, True)
    disliked = AssistantFeedback("a1", 2_000, False, comment="wrong size")
    assert store.add_assistant_feedback([liked, disliked, liked]) == 2
    assert store.assistant_feedback() == [liked, disliked]
    assert store.assistant_feedback(since_ms=1_001) == [disliked]


def test_an_assistant_turn_written_in_a_rolled_back_transaction_is_gone(store):
    with pytest.raises(KeyboardInterrupt), store.transaction():
        store.add_assistant_turns([turn("a1", 1)])
        store.add_assistant_feedback([AssistantFeedback("a1", 2, True)])
        raise KeyboardInterrupt
    assert store.assistant_turns() == [] and store.assistant_feedback() == []


# transactions and threads --------------------------------------------------------------


def test_transaction_rolls_back_everything(store):
    store.upsert_items(items("a"))
    before = (store.stats(), store.versions(), store.keys_version())
    with pytest.raises(KeyboardInterrupt), store.transaction():
        store.upsert_items(items("b", "c"))
        store.insert_events(events(50))
        store.add_key(key("cccc"))
        raise KeyboardInterrupt
    assert (store.stats(), store.versions(), store.keys_version()) == before
    assert store.item_ids() == {"a"} and store.keys() == []


def test_nested_transactions_commit_together(store):
    before = store.versions()
    with store.transaction():
        store.upsert_items(items("a"))
        store.upsert_items(items("b"))
        with store.transaction():
            store.insert_events(events(3))
    after = store.versions()
    assert after[0] > before[0] and after[1] > before[1]
    assert store.item_ids() == {"a", "b"} and store.stats().events == 3


def test_a_killed_writer_leaves_no_partial_batch(url, store):
    """kill -9 inside an ingest transaction: nothing of it is stored, and the store opens."""
    store.upsert_items(items("a"))
    before = (store.stats(), store.versions())
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import polars as pl
        from cartwise.store import open_store
        store = open_store({url!r}, create=False)
        with store.transaction():
            store.upsert_items(pl.DataFrame({{"item_id": ["b", "c"], "title": ["B", "C"]}}))
            store.insert_events(pl.DataFrame({{"event_key": list(range(1, 5001)), "user_id": ["u"] * 5000,
                                              "event_type": ["view"] * 5000, "ts": list(range(5000))}}))
            print("written", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9 and "written" in done.stdout, done.stderr
    again = open_store(url, create=False)
    assert (again.stats(), again.versions()) == before and again.item_ids() == {"a"}
    assert again.insert_events(events(3)) == 3  # and it takes writes again
    again.close()


def test_writers_in_several_threads_all_land(store):
    def write(start: int) -> None:
        for batch in range(5):
            store.insert_events(events(20, start_key=start + batch * 20, user=f"t{start}"))

    threads = [threading.Thread(target=write, args=(start,)) for start in (1, 1001, 2001, 3001)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.stats().events == 400 and store.stats().users == 4
    assert store.versions()[1] == 20  # one bump per committed batch, none lost


def test_readers_in_other_threads_see_committed_writes(store):
    store.upsert_items(items("a"))
    seen: list[set[str]] = []
    thread = threading.Thread(target=lambda: seen.append(store.item_ids()))
    thread.start()
    thread.join()
    assert seen == [{"a"}]
