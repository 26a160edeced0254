"""`POST /v1/assist/feedback`, the chat widget's "was this helpful?": who may send it, what
it refuses (with a clear 4xx), and what the dashboard's report makes of it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.access import Scope
from cartwise.api.app import create_app
from cartwise.assistant.assistant import Assistant
from cartwise.assistant.log import MAX_COMMENT_CHARS
from cartwise.limits import MAX_ID_LENGTH
from tests.assistant.test_assistant import DOCUMENTS


@pytest.fixture
def client(engine: Engine) -> TestClient:
    assistant = Assistant(engine)
    assert assistant.ingest_documents(DOCUMENTS).rows_rejected == 0
    app = create_app(engine)
    app.state.assistants = {id(engine): assistant}
    return TestClient(app)


@pytest.fixture
def keys(engine: Engine) -> dict[Scope, dict[str, str]]:
    return {scope: {"Authorization": f"Bearer {engine.create_key(scope).secret}"} for scope in Scope}


def _ask(client: TestClient, keys, message: str, **extra) -> dict:
    response = client.post("/v1/assist", json={"message": message, **extra}, headers=keys[Scope.SEARCH])
    assert response.status_code == 200, response.text
    return response.json()


def test_feedback_with_the_storefronts_search_key_is_stored_for_the_report(client, keys, engine):
    answered = _ask(client, keys, "is the infuser dishwasher safe?", item_id="teapot", conversation_id="w-1")
    handed_off = _ask(client, keys, "how long does the battery last on a single charge?", item_id="teapot")
    assert answered["answered"] and handed_off["handoff"]
    ok = client.post("/v1/assist/feedback", json={"answer_id": answered["answer_id"], "helpful": True},
                     headers=keys[Scope.SEARCH])
    assert ok.status_code == 200 and ok.json() == {"answer_id": answered["answer_id"], "helpful": True}
    no = client.post("/v1/assist/feedback", json={"answer_id": handed_off["answer_id"], "helpful": False,
                                                  "comment": "I need to know"}, headers=keys[Scope.SEARCH])
    assert no.status_code == 200
    # In the log the dashboard reads (the report writes what the server still has queued first).
    report = client.get("/v1/assist/report", headers=keys[Scope.ADMIN]).json()
    rated = {f.answer_id: f.helpful for f in engine.store.assistant_feedback()}
    assert rated == {answered["answer_id"]: True, handed_off["answer_id"]: False}
    assert report["feedback"] == 2 and report["helpful"] == 1 and report["helpful_rate"] == 0.5
    assert report["unanswered"][0]["message"] == "how long does the battery last on a single charge?"
    assert report["unanswered"][0]["item_ids"] == ["teapot"]
    assert [(u["answer_id"], u["comment"], u["item_id"]) for u in report["unhelpful"]] == [
        (handed_off["answer_id"], "I need to know", "teapot")]


def test_a_second_rating_of_an_answer_replaces_the_first(client, keys):
    answer = _ask(client, keys, "is the infuser dishwasher safe?", item_id="teapot")
    for helpful in (False, True):
        assert client.post("/v1/assist/feedback", json={"answer_id": answer["answer_id"], "helpful": helpful},
                           headers=keys[Scope.SEARCH]).status_code == 200
    report = client.get("/v1/assist/report", headers=keys[Scope.ADMIN]).json()
    assert report["feedback"] == 1 and report["helpful"] == 1 and report["unhelpful"] == []


def test_shopping_answers_carry_the_search_request_id_for_events(client, keys, engine):
    answer = _ask(client, keys, "red summer dress under 60")
    assert answer["route"] == "shopping" and answer["items"][0]["item_id"] == "dress-red"
    engine.impressions.flush()  # written in the background
    shown = engine.store.impressions()
    assert answer["request_id"] and answer["request_id"] in set(shown["request_id"].to_list())


@pytest.mark.parametrize(("body", "status", "field"), [
    ({}, 422, "answer_id"),
    ({"helpful": True}, 422, "answer_id"),
    ({"answer_id": "x"}, 422, "helpful"),
    ({"answer_id": "x", "helpful": "yes"}, 422, "helpful"),
    ({"answer_id": "x", "helpful": 1}, 422, "helpful"),
    ({"answer_id": "x", "helpful": None}, 422, "helpful"),
    ({"answer_id": "", "helpful": True}, 422, "answer_id"),
    ({"answer_id": "x" * (MAX_ID_LENGTH + 1), "helpful": True}, 422, "answer_id"),
    ({"answer_id": 7, "helpful": True}, 422, "answer_id"),
    ({"answer_id": "x", "helpful": True, "comment": "c" * (MAX_COMMENT_CHARS + 1)}, 422, "comment"),
    ({"answer_id": "x", "helpful": True, "stars": 5}, 422, "stars"),
    ({"answer_id": "no-such-answer", "helpful": True}, 404, "answer_id"),
])
def test_bad_feedback_gets_a_clear_4xx(client, keys, body, status, field):
    response = client.post("/v1/assist/feedback", json=body, headers=keys[Scope.SEARCH])
    assert response.status_code == status, response.text
    error = response.json()
    assert error["field"] == field and error["message"]


def test_feedback_needs_a_search_key_and_no_events_key_reads_answers(client, keys):
    answer = _ask(client, keys, "is the infuser dishwasher safe?", item_id="teapot")
    body = {"answer_id": answer["answer_id"], "helpful": True}
    assert client.post("/v1/assist/feedback", json=body).status_code == 401
    assert client.post("/v1/assist/feedback", json=body, headers=keys[Scope.EVENTS]).status_code == 403
    assert client.post("/v1/assist", json={"message": "hi"}, headers=keys[Scope.EVENTS]).status_code == 403
    # The report (the FAQ's to-do list) is the operators': a storefront's key cannot read it.
    assert client.get("/v1/assist/report", headers=keys[Scope.SEARCH]).status_code == 403
    binary = client.post("/v1/assist/feedback", content=b"\xff\xfe\x00", headers={
        **keys[Scope.SEARCH], "Content-Type": "application/json"})
    assert 400 <= binary.status_code < 500 and binary.json()["message"]
