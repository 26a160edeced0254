"""The shopping assistant: one message in, one :class:`AssistAnswer` out.

1. The message is checked (text, not empty, at most :data:`MAX_MESSAGE_CHARS`, no
   binary) and embedded once (multilingual-e5 query vector).
2. The conversation's context (its last turn in the log, which the store keeps: any
   server's) supplies the open product when the message has none.
3. The router (:mod:`.routing`) says product question, store question or shopping request.
4. A product question ranks the product's passages (catalog fields, bullets, specs,
   reviews, Q&A) and quotes the best (English questions: reordered by the shipped
   reranker, :mod:`.rerank`; the fused score when it does not load, said in the answer's
   diagnostics); a store question matches the FAQ, then the
   policies; a shopping request becomes a search (query understanding included).
5. Evidence below the calibrated threshold (:mod:`.calibration`) is not used: the reply
   says so and the question is handed off (logged) for a person. Nothing is composed
   beyond the quoted evidence: no answer is invented.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from cartwise.assistant import calibration
from cartwise.assistant.answer import AssistAnswer, Evidence
from cartwise.assistant.catalog import item_passages
from cartwise.assistant.conversation import Context, Conversations
from cartwise.assistant.faq import match_faq
from cartwise.assistant.knowledge import Passage
from cartwise.assistant.library import KnowledgeStore, VectorCache
from cartwise.assistant.log import AssistLog
from cartwise.assistant.ranking import rank, tokenize
from cartwise.assistant.rerank import Reranker, RerankerUnavailable
from cartwise.assistant.routing import Route, Router, Routing
from cartwise.encode import DEFAULT_ENCODER, load_encoder
from cartwise.errors import NotFound, ValidationError
from cartwise.limits import MAX_ID_LENGTH

if TYPE_CHECKING:
    from cartwise.engine import Engine

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1000
EVIDENCE_SHOWN = 3
SEARCH_K = 5
SAVE_VECTORS_EVERY_S = 30.0
_HAN = re.compile(r"[\u3400-\u9fff]")
# A product named in a message: this share of its title's words must be in the message.
NAMED_PRODUCT_OVERLAP = 0.6

_REPLIES = {
    "en": {
        "evidence": "From the {source}: \u201c{text}\u201d",
        "handoff": "I could not find a reliable answer to that in {where}. I have passed your question to our "
        "team, and a person will get back to you.",
        "product_info": "this product's information",
        "store_info": "our FAQ and policies",
        "which": "Which product do you mean? Open its page or name it, and ask again.",
        "found": "Here {verb} {n} product{s} for \u201c{query}\u201d.",
        "none": "I found no products for \u201c{query}\u201d. Try other words, or fewer conditions.",
    },
    "zh": {
        "evidence": "根据{source}：\u201c{text}\u201d",
        "handoff": "抱歉，我在{where}中没有找到可靠的答案。您的问题已转给人工客服，稍后会有专人回复您。",
        "product_info": "该商品的信息",
        "store_info": "常见问题和店铺政策",
        "which": "请问您问的是哪件商品？请打开商品页面或说出商品名称后再问。",
        "found": "为您找到{n}件与\u201c{query}\u201d相关的商品。",
        "none": "没有找到与\u201c{query}\u201d相关的商品，请换个说法或减少条件试试。",
    },
}


def check_message(message: object) -> str:
    """The message, stripped; a ValidationError (422) for anything that is not a short text."""
    if not isinstance(message, str):
        raise ValidationError("message must be text", field="message")
    if len(message) > MAX_MESSAGE_CHARS:
        raise ValidationError(
            f"message is {len(message)} characters long; the limit is {MAX_MESSAGE_CHARS}",
            field="message", hint="ask one question at a time",
        )
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") and c not in "\t\n\r" for c in message):
        raise ValidationError("message contains control or binary characters", field="message",
                              hint="send plain UTF-8 text")
    message = " ".join(message.split())
    if not message:
        raise ValidationError("message is empty", field="message", hint="type a question or what you are looking for")
    return message


def _check_optional_id(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{field} must be a non-empty string of at most {MAX_ID_LENGTH} characters", field=field)
    return value.strip()


def _matches_words(response) -> bool:
    """Whether a search found items by the message's words (a lexical match), not only by
    meaning or popularity."""
    return any(item.lexical_score for item in response.items)


def language_of(message: str) -> str:
    return "zh" if _HAN.search(message) else "en"


class Assistant:
    """Answers shoppers' messages from one engine's catalog, search and knowledge."""

    def __init__(
        self,
        engine: Engine,
        *,
        encoder: str = DEFAULT_ENCODER,
        log: bool = True,
        evidence_threshold: float = calibration.EVIDENCE_THRESHOLD,
        faq_threshold: float = calibration.FAQ_THRESHOLD,
        reranker: bool = True,
    ) -> None:
        """`evidence_threshold` and `faq_threshold`: the fused scores below which evidence and
        FAQ matches are not used (defaults and other operating points: :mod:`.calibration`).
        `reranker`: order English product questions' evidence with the shipped reranker
        (loaded on first use; MiniLM and lightgbm); False keeps the fused score."""
        for name, value in (("evidence_threshold", evidence_threshold), ("faq_threshold", faq_threshold)):
            if not isinstance(value, int | float) or not -1.0 <= value <= 2.0:
                raise ValidationError(f"{name} must be a number from -1 to 2, got {value!r}", field=name)
        self.evidence_threshold = float(evidence_threshold)
        self.faq_threshold = float(faq_threshold)
        self.engine = engine
        self.encoder = load_encoder(encoder)
        self.knowledge = KnowledgeStore(engine.workspace)
        self.vectors = VectorCache(self.encoder, engine.workspace.assistant_dir)
        self.router = Router(self.encoder)
        self.log = AssistLog(engine.store) if log else None
        self.conversations = Conversations(self.log)
        self._saved = time.monotonic()
        self.use_reranker = bool(reranker)
        self._reranker: Reranker | None = None
        self._reranker_error: str | None = None
        self._minilm_vectors: VectorCache | None = None
        self._reranker_lock = threading.Lock()

    def reranker(self) -> Reranker | None:
        """The evidence reranker, loaded on first use; None when turned off or when it cannot
        load (the reason is kept, logged once and reported in each answer's diagnostics)."""
        if not self.use_reranker:
            return None
        if self._reranker is not None or self._reranker_error is not None:
            return self._reranker
        with self._reranker_lock:
            if self._reranker is None and self._reranker_error is None:
                try:
                    reranker = Reranker()
                    self._minilm_vectors = VectorCache(reranker.encoder, self.engine.workspace.assistant_dir)
                    self._reranker = reranker
                except RerankerUnavailable as exc:
                    self._reranker_error = str(exc)
                    logger.warning("assistant: evidence reranker unavailable, using the fused score: %s", exc)
        return self._reranker

    # knowledge -----------------------------------------------------------------------

    def ingest_faq(self, source, *, format: str = "auto"):
        report = self.knowledge.ingest_faq(source, format=format)
        self.vectors.get([e.question for e in self.knowledge.load().faq], kind="query")
        self.vectors.save()
        return report

    def ingest_documents(self, source, *, format: str = "auto"):
        report = self.knowledge.ingest_documents(source, format=format, known_items=self.engine.store.item_ids())
        self.vectors.get([p.text for p in self.knowledge.load().passages], kind="passage")
        self.vectors.save()
        return report

    # answers -------------------------------------------------------------------------

    def answer(
        self,
        message: object,
        *,
        item_id: str | None = None,
        conversation_id: str | None = None,
        user_id: str | None = None,
    ) -> AssistAnswer:
        started = time.perf_counter()
        text = check_message(message)
        item_id = _check_optional_id(item_id, "item_id")
        conversation_id = _check_optional_id(conversation_id, "conversation_id")
        user_id = _check_optional_id(user_id, "user_id")
        context = self.conversations.get(conversation_id)
        open_item = item_id or context.item_id
        if item_id is not None and self.engine.store.get_items([item_id]).is_empty():
            raise NotFound(f"item {item_id!r} is not in the catalog", field="item_id")
        language = language_of(text)
        vector = self.encoder.encode_queries([text])[0]
        routing = self.router.route(text, open_item=open_item is not None, embedding=vector)
        base = {
            "answer_id": uuid.uuid4().hex,
            "conversation_id": conversation_id,
            "route": routing.route.value,
            "confidence": routing.confidence,
            "route_scores": routing.scores,
            "language": language,
        }
        if routing.route is Route.PRODUCT:
            answer = self._product(text, vector, open_item, language, base)
        elif routing.route is Route.STORE:
            answer = self._store(text, vector, language, base)
        else:
            answer = self._shopping(text, language, base, user_id=user_id, open_item=open_item)
        answer.took_ms = round((time.perf_counter() - started) * 1000, 2)
        if self.log is not None:
            self.log.question(text, answer, user_id=user_id, about_item_id=answer.item_id or open_item,
                              turn=context.turns + 1)
        if time.monotonic() - self._saved > SAVE_VECTORS_EVERY_S:
            self._saved = time.monotonic()
            self.vectors.save()
            if self._minilm_vectors is not None:
                self._minilm_vectors.save()
        return answer

    def feedback(self, answer_id: str, *, helpful: bool, comment: str | None = None) -> None:
        if self.log is None:
            raise ValidationError("this assistant does not log", field="answer_id")
        answer_id = _check_optional_id(answer_id, "answer_id") or ""
        self.log.feedback(answer_id, helpful=helpful, comment=comment)

    # routes --------------------------------------------------------------------------

    def _product(self, text: str, vector: NDArray[np.float32], item_id: str | None, language: str,
                 base: dict) -> AssistAnswer:
        words = _REPLIES[language]
        if item_id is None:
            item_id = self._named_product(text)
        if item_id is None:
            return AssistAnswer(**base, reply=words["which"], answered=False, handoff=False)
        passages = self._item_passages(item_id)
        diagnostics: list[str] = []
        evidence = self._evidence(text, vector, passages, rerank=language == "en", diagnostics=diagnostics)
        how = {"ranking": "reranker" if evidence and evidence[0].rerank_score is not None else "fused",
               "diagnostics": diagnostics}
        if not evidence or evidence[0].score < self.evidence_threshold:
            return AssistAnswer(**base, reply=words["handoff"].format(where=words["product_info"]), answered=False,
                                handoff=True, evidence=evidence, item_id=item_id, **how)
        best = evidence[0]
        return AssistAnswer(**base, reply=words["evidence"].format(source=best.source, text=best.text),
                            answered=True, handoff=False, evidence=evidence, item_id=item_id, **how)

    def _store(self, text: str, vector: NDArray[np.float32], language: str, base: dict) -> AssistAnswer:
        words = _REPLIES[language]
        knowledge = self.knowledge.load()
        matches = match_faq(vector, text, knowledge.faq, self.vectors)
        if matches and matches[0].score >= self.faq_threshold:
            evidence = [
                Evidence(text=f"{m.entry.question} \u2014 {m.entry.answer}", source=f"FAQ ({m.entry.faq_id})",
                         kind="faq", doc_id=m.entry.faq_id, score=round(m.score, 4))
                for m in matches if m.score >= self.faq_threshold
            ]
            return AssistAnswer(**base, reply=matches[0].entry.answer, answered=True, handoff=False, evidence=evidence)
        evidence = self._evidence(text, vector, knowledge.store_passages)
        if evidence and evidence[0].score >= self.evidence_threshold:
            best = evidence[0]
            return AssistAnswer(**base, reply=words["evidence"].format(source=best.source, text=best.text),
                                answered=True, handoff=False, evidence=evidence)
        return AssistAnswer(**base, reply=words["handoff"].format(where=words["store_info"]), answered=False,
                            handoff=True, evidence=evidence)

    def _shopping(self, text: str, language: str, base: dict, *, user_id: str | None,
                  open_item: str | None) -> AssistAnswer:
        """A search for the message. With a product open ("any others like this under 10?")
        and no category named in the message, the search keeps to the open product's
        category (its most popular items when none matches the words, unless the words
        match products elsewhere: "wool hiking socks" asked on a teapot's page)."""
        words = _REPLIES[language]
        response = self.engine.search(text, k=SEARCH_K, user_id=user_id)
        if open_item is not None and not any(chip.kind == "category" for chip in response.chips):
            rows = self.engine.store.get_items([open_item]).to_dicts()
            category = rows[0].get("category") if rows else None
            if category:
                scope = [f"category={category}"]
                scoped = self.engine.search(text, k=SEARCH_K + 1, user_id=user_id, filters=scope, fallback=False)
                scoped.items = [item for item in scoped.items if item.item_id != open_item][:SEARCH_K]
                if not scoped.items:  # nothing else in the category matches the words: its best sellers
                    scoped = self.engine.search("", k=SEARCH_K + 1, user_id=user_id, filters=scope)
                    scoped.items = [item for item in scoped.items if item.item_id != open_item][:SEARCH_K]
                # Words that name products elsewhere but none in the category ("wool hiking
                # socks" asked on a teapot's page) are a new search, not "more like this".
                if scoped.items and not (_matches_words(response) and not _matches_words(scoped)):
                    response = scoped
        items = list(response.items)
        n = len(items)
        reply = (words["found"].format(n=n, s="" if n == 1 else "s", verb="is" if n == 1 else "are", query=text)
                 if n else words["none"].format(query=text))
        return AssistAnswer(**base, reply=reply, answered=bool(n), handoff=False, items=items, query=text,
                            chips=list(response.chips), request_id=response.request_id)

    # evidence ------------------------------------------------------------------------

    def _item_passages(self, item_id: str) -> list[Passage]:
        rows = self.engine.store.get_items([item_id]).to_dicts()
        if not rows:
            raise NotFound(f"item {item_id!r} is not in the catalog", field="item_id")
        return [*item_passages(rows[0]), *self.knowledge.load().item_passages(item_id)]

    def _evidence(self, text: str, vector: NDArray[np.float32], passages: Sequence[Passage], *,
                  rerank: bool = False, diagnostics: list[str] | None = None) -> list[Evidence]:
        """The best passages for the question; `rerank`: ordered by the reranker when it loads
        (else by the fused score, with the reason appended to `diagnostics`)."""
        if not passages:
            return []
        texts = [p.text for p in passages]
        passage_vectors = self.vectors.get(texts, kind="passage")
        ranked = None
        reranker = self.reranker() if rerank else None
        if rerank and self.use_reranker and reranker is None and diagnostics is not None:
            diagnostics.append(f"reranker unavailable, evidence ranked by the fused score: {self._reranker_error}")
        if reranker is not None and self._minilm_vectors is not None:
            minilm = self._minilm_vectors
            try:
                question = reranker.encoder.encode_queries([text])[0]
                ranked = rank(vector, text, passage_vectors, texts, k=EVIDENCE_SHOWN,
                              kinds=[p.kind for p in passages], reranker=reranker,
                              minilm_cosines=lambda at: minilm.get([texts[i] for i in at], kind="passage") @ question)
            except Exception as exc:  # a failing second encoder must not fail the answer
                logger.exception("assistant: the evidence reranker failed; using the fused score")
                if diagnostics is not None:
                    diagnostics.append(f"reranker failed, evidence ranked by the fused score: {exc!r}")
        if ranked is None:
            ranked = rank(vector, text, passage_vectors, texts, k=EVIDENCE_SHOWN)
        return [
            Evidence(text=passages[r.index].text, source=passages[r.index].source, kind=passages[r.index].kind,
                     doc_id=passages[r.index].doc_id, item_id=passages[r.index].item_id, score=round(r.score, 4),
                     rerank_score=None if r.rerank is None else round(r.rerank, 4))
            for r in ranked
        ]

    def _named_product(self, text: str) -> str | None:
        """The catalog item the message names, if one: the best lexical hits whose title's
        words are mostly in the message (read from the live index: nothing is shown, so no
        impression is logged)."""
        state = self.engine.state
        if state is None:
            self.engine.refresh()
            state = self.engine.state
        if state is None:  # not trained yet: no index
            return None
        said = set(tokenize([text])[0])
        for hit in state.lexical.search(text, k=3):
            title = set(tokenize([state.catalog.title(hit.item_id)])[0])
            if title and len(title & said) / len(title) >= NAMED_PRODUCT_OVERLAP:
                return hit.item_id
        return None


__all__ = ["MAX_MESSAGE_CHARS", "Assistant", "Context", "Routing", "check_message", "language_of"]
