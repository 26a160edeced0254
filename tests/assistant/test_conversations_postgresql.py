"""Two servers of one PostgreSQL store: a conversation begun on one goes on on the other, and
both write to and read the same assistant log (questions, hand-offs, ratings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cartwise import Engine
from cartwise.assistant.assistant import Assistant
from cartwise.store import store_backends
from tests.conftest import CATALOG

DOCUMENTS = [
    {"doc_id": "teapot-qa", "kind": "qa", "item_id": "teapot",
     "text": "Q: Is the infuser dishwasher safe? A: Yes, the stainless steel infuser is dishwasher safe."},
    {"doc_id": "teapot-colours", "kind": "specs", "item_id": "teapot",
     "text": "Colours: clear glass with a blue or a black lid."},
]


@pytest.fixture
def postgresql_url(tmp_path: Path):
    backend = next((b for b in store_backends() if b.name == "postgresql"), None)
    url = backend.scratch_url(tmp_path) if backend is not None else None
    if url is None:
        pytest.skip("no PostgreSQL server for a scratch store here")
    yield url
    if backend.discard_scratch is not None:
        backend.discard_scratch(url)


def test_two_servers_of_a_postgresql_store_share_conversations_and_the_log(postgresql_url, tmp_path):
    first_engine = Engine.open(postgresql_url)
    first_engine.upsert_items(CATALOG)
    first = Assistant(first_engine, reranker=False)
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(d) for d in DOCUMENTS), encoding="utf-8")
    assert first.ingest_documents(tmp_path / "docs.jsonl").rows_rejected == 0
    second_engine = Engine.open(postgresql_url, create=False)
    second = Assistant(second_engine, reranker=False)

    asked = first.answer("is the infuser dishwasher safe?", item_id="teapot", conversation_id="pg-1")
    assert asked.answered and asked.item_id == "teapot"
    first.log.flush()  # what the background writer does every 0.25 s
    follow_up = second.answer("does it come in blue?", conversation_id="pg-1")
    assert follow_up.route == "product" and follow_up.item_id == "teapot"
    assert follow_up.evidence[0].doc_id == "teapot-colours"

    second.feedback(asked.answer_id, helpful=True)  # rated on the server that did not answer it
    second.log.flush()
    report = first.log.report()
    assert report.questions == 2 and report.feedback == 1 and report.helpful == 1
    assert [t.turn for t in first_engine.store.assistant_turns()] == [1, 2]
    first_engine.close()
    second_engine.close()
