"""The assistant end to end on the planted store: routing, evidence, abstention and
hand-off, FAQ in both languages, multi-turn context, bad input, and the HTTP API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cartwise import Engine
from cartwise.access import Scope
from cartwise.api.app import create_app
from cartwise.assistant import calibration
from cartwise.assistant.assistant import MAX_MESSAGE_CHARS, Assistant
from cartwise.errors import NotFound, ValidationError

FAQ = (
    "question,answer,language\n"
    "How do I return an item?,Start a return from your orders page within 30 days.,en\n"
    "How long does delivery take?,Orders arrive in 2 to 4 working days.,en\n"
    "怎么申请退货？,在订单页面点击申请退货，30天内有效。,zh\n"
    "运费怎么算？,满99元包邮，不满收取10元运费。,zh\n"
)
DOCUMENTS = [
    {"doc_id": "teapot-bullets", "kind": "bullets", "item_id": "teapot",
     "text": "- Borosilicate glass, heat resistant up to 150 C\n- Holds 1 litre of tea"},
    {"doc_id": "teapot-qa", "kind": "qa", "item_id": "teapot",
     "text": "Q: Is the infuser dishwasher safe? A: Yes, the stainless steel infuser is dishwasher safe."},
    {"doc_id": "teapot-colours", "kind": "specs", "item_id": "teapot",
     "text": "Colours: clear glass with a blue or a black lid."},
    {"doc_id": "dress-zh-qa", "kind": "qa", "item_id": "dress-zh", "text": "问：这条裙子是什么面料的？答：100%纯棉面料，透气舒适。"},
]


@pytest.fixture
def assistant(engine: Engine, tmp_path: Path) -> Assistant:
    assistant = Assistant(engine)
    (tmp_path / "faq.csv").write_text(FAQ, encoding="utf-8")
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in DOCUMENTS),
                                         encoding="utf-8")
    assert assistant.ingest_faq(tmp_path / "faq.csv").rows_rejected == 0
    assert assistant.ingest_documents(tmp_path / "docs.jsonl").rows_rejected == 0
    return assistant


@pytest.mark.parametrize(("message", "item_id", "route"), [
    ("is the infuser dishwasher safe?", "teapot", "product"),
    ("是什么面料？", "dress-zh", "product"),
    ("how do I return an item?", None, "store"),
    ("退货运费谁出？", None, "store"),
    ("red summer dress under 60 euros", None, "shopping"),
    ("有没有适合送妈妈的礼物，200元以内", None, "shopping"),
])
def test_planted_messages_are_routed(assistant, message, item_id, route):
    answer = assistant.answer(message, item_id=item_id)
    assert answer.route == route and 0.5 < answer.confidence <= 1.0
    assert set(answer.route_scores) == {"product", "store", "shopping"}


def test_product_question_quotes_its_evidence_with_source(assistant):
    answer = assistant.answer("is the infuser dishwasher safe?", item_id="teapot")
    assert answer.answered and not answer.handoff and answer.item_id == "teapot"
    assert answer.evidence[0].doc_id == "teapot-qa" and answer.evidence[0].text in answer.reply
    assert "qa of item teapot" in answer.reply and answer.evidence[0].score >= calibration.EVIDENCE_THRESHOLD


def test_evidence_below_the_calibrated_threshold_is_not_used_but_stays_attached(assistant):
    # A relevant bullet, but worded far from the question: at the shipped threshold (precision
    # 0.9 on ePQA) it is handed off; at the 0.8 operating point it is quoted.
    question = "how much tea does this pot hold?"
    strict = assistant.answer(question, item_id="teapot")
    assert strict.handoff and strict.evidence[0].text == "Holds 1 litre of tea"
    lenient = Assistant(assistant.engine, evidence_threshold=calibration.OPERATING_POINTS[0.8], log=False)
    assert lenient.answer(question, item_id="teapot").answered


def test_a_product_named_in_the_message_is_the_one_asked_about(assistant):
    answer = assistant.answer("is the glass teapot with infuser heat resistant?")
    assert answer.route == "product" and answer.item_id == "teapot"
    assert answer.evidence[0].item_id == "teapot"


def test_chinese_product_question_is_answered_in_chinese(assistant):
    answer = assistant.answer("这条裙子是什么面料？", item_id="dress-zh")
    assert answer.route == "product" and answer.answered and answer.language == "zh"
    assert "纯棉" in answer.evidence[0].text and answer.reply.startswith("根据")


def test_abstains_and_hands_off_when_nothing_relevant(assistant):
    answer = assistant.answer("how long does the battery last on a single charge?", item_id="teapot")
    assert answer.route == "product" and not answer.answered and answer.handoff
    assert "passed your question" in answer.reply
    unanswered = assistant.log.report().unanswered
    assert [u.message for u in unanswered] == ["how long does the battery last on a single charge?"]


def test_store_questions_match_the_faq_across_paraphrase_and_language(assistant):
    english = assistant.answer("can I send back something I bought?")
    assert english.route == "store" and english.answered
    assert english.reply == "Start a return from your orders page within 30 days."
    chinese = assistant.answer("退货怎么弄？")
    assert chinese.answered and chinese.reply.startswith("在订单页面") and chinese.evidence[0].kind == "faq"
    unknown = assistant.answer("do you ship to the moon?")
    assert unknown.route == "store" and unknown.handoff and not unknown.answered


def test_follow_up_refers_to_the_product_of_the_conversation(assistant):
    first = assistant.answer("is the infuser dishwasher safe?", item_id="teapot", conversation_id="c-1")
    assert first.item_id == "teapot"
    follow_up = assistant.answer("does it come in blue?", conversation_id="c-1")
    assert follow_up.route == "product" and follow_up.item_id == "teapot"
    assert follow_up.evidence[0].doc_id == "teapot-colours"
    # Another conversation has no product: the assistant asks which one.
    other = assistant.answer("does it come in blue?", conversation_id="c-2")
    assert other.item_id is None and not other.answered and not other.handoff


def _second_server(assistant: Assistant) -> Assistant:
    """Another server of the same store: its own engine and connections, no shared memory."""
    return Assistant(Engine.open(assistant.engine.store.path, create=False), reranker=False)


def test_a_conversation_goes_on_on_another_server_and_after_a_restart(assistant):
    first = assistant.answer("is the infuser dishwasher safe?", item_id="teapot", conversation_id="c-9")
    assert first.item_id == "teapot"
    # The next turn reaches another server once the first server's log is written (every 0.25 s).
    assistant.log.flush()
    other = _second_server(assistant)
    follow_up = other.answer("does it come in blue?", conversation_id="c-9")
    assert follow_up.item_id == "teapot" and follow_up.evidence[0].doc_id == "teapot-colours"
    # A server started after both still knows the conversation, and counts its turns.
    other.log.close()
    restarted = _second_server(assistant)
    assert restarted.answer("and how much tea does it hold?", conversation_id="c-9").item_id == "teapot"
    restarted.log.flush()
    turns = [t for t in assistant.engine.store.assistant_turns() if t.conversation_id == "c-9"]
    assert [(t.turn, t.about_item_id) for t in turns] == [(1, "teapot"), (2, "teapot"), (3, "teapot")]


def test_a_conversation_quiet_for_longer_than_its_lifetime_starts_afresh(assistant):
    assistant.answer("is the infuser dishwasher safe?", item_id="teapot", conversation_id="c-old")
    assert assistant.answer("does it come in blue?", conversation_id="c-old").item_id == "teapot"
    assistant.conversations.ttl_s = 0.0
    time.sleep(0.002)
    assert assistant.answer("does it come in blue?", conversation_id="c-old").item_id is None


def test_feedback_is_taken_by_any_server_and_before_the_answer_is_written(assistant):
    answer = assistant.answer("is the infuser dishwasher safe?", item_id="teapot")
    assistant.feedback(answer.answer_id, helpful=True)  # still queued on this server: accepted
    other = _second_server(assistant)
    with pytest.raises(NotFound):
        other.feedback("no-such-answer", helpful=True)
    assistant.log.flush()
    other.feedback(answer.answer_id, helpful=False, comment="changed my mind")
    report = other.log.report()
    assert report.questions == 1 and report.feedback == 1 and report.helpful == 0
    assert [u.comment for u in report.unhelpful] == ["changed my mind"]


def test_the_log_file_of_earlier_releases_moves_into_the_store_once(engine):
    legacy = engine.workspace.assistant_dir / "log.jsonl"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text("\n".join([
        json.dumps({"type": "question", "ts": 1000, "answer_id": "old-1", "conversation_id": "w", "user_id": None,
                    "message": "does it fit a 65-inch TV?", "route": "product", "confidence": 0.9, "answered": False,
                    "handoff": True, "item_id": "teapot", "reply": "I could not find", "evidence": [], "items": []}),
        json.dumps({"type": "feedback", "ts": 2000, "answer_id": "old-1", "helpful": False, "comment": None}),
        '{"type": "question", "ts": 3000, "answer_id": "cut-sh',  # a line a crash cut short
    ]) + "\n", encoding="utf-8")
    first = Assistant(engine, reranker=False)
    assert first.log.imported == 2 and not legacy.exists() and legacy.with_name("log.jsonl.imported").exists()
    report = first.log.report()
    assert report.questions == 1 and report.handed_off == 1 and report.feedback == 1
    assert [(u.message, u.item_ids) for u in report.unanswered] == [("does it fit a 65-inch TV?", ["teapot"])]
    assert Assistant(engine, reranker=False).log.imported == 0 and len(engine.store.assistant_turns()) == 1


def test_shopping_request_searches_with_query_understanding(assistant):
    answer = assistant.answer("red summer dress under 60")
    assert answer.route == "shopping" and answer.items[0].item_id == "dress-red"
    assert any(chip.kind == "price" for chip in answer.chips)


def test_shopping_request_with_a_product_open_keeps_to_its_category(assistant):
    assistant.answer("does it hold 350 ml?", item_id="mug-red", conversation_id="c-3")
    answer = assistant.answer("any other ones like this?", conversation_id="c-3")
    assert answer.route == "shopping" and answer.items
    assert {item.category for item in answer.items} == {"Home > Kitchen > Mugs"}
    assert "mug-red" not in {item.item_id for item in answer.items}


def test_shopping_request_naming_other_products_leaves_the_open_products_category(assistant):
    # Asked in the chat on a teapot's page: the shopper wants socks, not the teapot's category.
    answer = assistant.answer("wool hiking socks", item_id="teapot", conversation_id="c-4")
    assert answer.route == "shopping" and answer.items[0].item_id == "socks"


@pytest.mark.parametrize(("message", "words"), [
    ("", "empty"), ("   \n ", "empty"), ("x" * (MAX_MESSAGE_CHARS + 1), "limit"),
    ("\x00\x01\x02binary", "binary"), (b"bytes", "text"), (None, "text"),
])
def test_bad_messages_are_refused(assistant, message, words):
    with pytest.raises(ValidationError, match=words):
        assistant.answer(message)


def test_unknown_item_is_404(assistant):
    with pytest.raises(NotFound):
        assistant.answer("is it waterproof?", item_id="no-such-item")


def test_http_assist_feedback_and_report(engine, assistant):
    app = create_app(engine)
    app.state.assistants = {id(engine): assistant}
    client = TestClient(app)
    search = {"X-API-Key": engine.create_key(Scope.SEARCH).secret}
    admin = {"X-API-Key": engine.create_key(Scope.ADMIN).secret}
    response = client.post("/v1/assist", json={"message": "is the teapot heat resistant?", "item_id": "teapot",
                                                "conversation_id": "web-1"}, headers=search)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["route"] == "product" and body["evidence"][0]["doc_id"] == "teapot-bullets"
    follow = client.post("/v1/assist", json={"message": "does it come in blue?", "conversation_id": "web-1"},
                         headers=search).json()
    assert follow["item_id"] == "teapot"
    ok = client.post("/v1/assist/feedback", json={"answer_id": body["answer_id"], "helpful": True}, headers=search)
    assert ok.status_code == 200
    assert client.post("/v1/assist/feedback", json={"answer_id": "nope", "helpful": True},
                       headers=search).status_code == 404
    report = client.get("/v1/assist/report", headers=admin).json()
    assert report["questions"] == 2 and report["feedback"] == 1 and report["helpful_rate"] == 1.0
    for bad in ({"message": ""}, {"message": "x" * 5000}, {"message": "\x00\x01"}, {"message": 3}, {},
                {"message": "hi", "unknown": 1}):
        refused = client.post("/v1/assist", json=bad, headers=search)
        assert refused.status_code == 422, (bad, refused.text)
    binary = client.post("/v1/assist", content=b"\xff\xfe\x00binary", headers={**search, "Content-Type": "application/json"})
    assert binary.status_code == 422
    huge = TestClient(create_app(engine, max_body_bytes=10_000)).post(
        "/v1/assist", json={"message": "x" * 20_000}, headers=search)
    assert huge.status_code == 413


# The evidence reranker (cartwise/assistant/rerank.py): used for English product questions,
# the fused score when it cannot load or fails, said in the answer's diagnostics.


def test_english_product_evidence_is_reranked_and_chinese_keeps_the_fused_score(assistant):
    english = assistant.answer("is the infuser dishwasher safe?", item_id="teapot")
    assert english.ranking == "reranker" and english.diagnostics == []
    assert all(e.rerank_score is not None for e in english.evidence)
    scores = [e.rerank_score for e in english.evidence]
    assert scores == sorted(scores, reverse=True)
    chinese = assistant.answer("这条裙子是什么面料？", item_id="dress-zh")
    assert chinese.ranking == "fused" and chinese.diagnostics == []
    assert all(e.rerank_score is None for e in chinese.evidence)
    assistant.use_reranker = False  # turned off after it loaded: the fused score again
    off = assistant.answer("is the infuser dishwasher safe?", item_id="teapot")
    assert off.ranking == "fused" and off.evidence[0].rerank_score is None and off.diagnostics == []


def test_without_the_reranker_the_fused_score_ranks_and_the_answer_says_why(assistant, monkeypatch):
    from cartwise.assistant import assistant as assistant_module
    from cartwise.assistant.rerank import RerankerUnavailable

    def unavailable(*args, **kwargs):
        raise RerankerUnavailable("lightgbm is not installed (planted)")

    monkeypatch.setattr(assistant_module, "Reranker", unavailable)
    question = "is the infuser dishwasher safe?"
    broken = Assistant(assistant.engine, log=False)
    answer = broken.answer(question, item_id="teapot")
    assert answer.ranking == "fused" and answer.answered
    assert len(answer.diagnostics) == 1 and "lightgbm is not installed (planted)" in answer.diagnostics[0]
    assert broken.answer(question, item_id="teapot").diagnostics == answer.diagnostics  # not retried, still said
    off = Assistant(assistant.engine, log=False, reranker=False).answer(question, item_id="teapot")
    assert off.ranking == "fused" and off.diagnostics == []  # turned off on purpose: nothing to report
    assert [(e.doc_id, e.score) for e in answer.evidence] == [(e.doc_id, e.score) for e in off.evidence]


def test_a_reranker_failing_mid_request_falls_back_to_the_fused_score(assistant, monkeypatch):
    from cartwise.assistant.rerank import Reranker

    assert assistant.reranker() is not None

    def fails(self, features):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(Reranker, "score", fails)
    answer = assistant.answer("is the infuser dishwasher safe?", item_id="teapot")
    assert answer.ranking == "fused" and answer.answered and answer.evidence[0].doc_id == "teapot-qa"
    assert "planted failure" in answer.diagnostics[0]


def test_servers_warm_the_assistant_of_a_store_with_knowledge(engine, assistant, tmp_path):
    """`cartwise serve` makes the assistant and loads its reranker in the background, so the
    first question does not wait for PyTorch and MiniLM; a store with no assistant
    knowledge is left alone."""
    from cartwise.api.routes.assist import warm_assistants

    app = create_app(engine)
    thread = warm_assistants(app, [engine])  # the fixture ingested an FAQ and documents
    assert thread is not None
    thread.join(timeout=120)
    warmed = app.state.assistants[id(engine)]
    assert warmed._reranker is not None and warmed._reranker_error is None
    bare = Engine.open(tmp_path / "bare", log_impressions=False)
    try:
        assert warm_assistants(create_app(bare), [bare]) is None
    finally:
        bare.close()
