"""/v1/assist: the shopping assistant (questions, feedback; its knowledge and log for admins)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.schemas import ErrorBody
from cartwise.assistant.answer import AssistAnswer
from cartwise.assistant.assistant import MAX_MESSAGE_CHARS, Assistant
from cartwise.assistant.log import MAX_COMMENT_CHARS, AssistReport
from cartwise.engine import Engine
from cartwise.limits import MAX_BATCH, MAX_ID_LENGTH

router = APIRouter(prefix="/v1/assist", tags=["assistant"], route_class=KeyFirstRoute)
ERRORS = {404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}}
_lock = threading.Lock()
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]


def get_assistant(request: Request, engine: Annotated[Engine, Depends(get_engine)]) -> Assistant:
    """The assistant of the store the request's key belongs to, made on first use (it
    loads the encoder and the router). One per store: a key of one store never reaches
    another store's catalog, knowledge or conversations."""
    return _assistant_of(request.app.state, engine)


def _assistant_of(state: Any, engine: Engine) -> Assistant:
    assistants: dict[int, Assistant] | None = getattr(state, "assistants", None)
    if assistants is None:
        with _lock:
            assistants = getattr(state, "assistants", None)
            if assistants is None:
                assistants = state.assistants = {}
    assistant = assistants.get(id(engine))
    if assistant is None:
        with _lock:
            assistant = assistants.get(id(engine))
            if assistant is None:
                assistant = assistants[id(engine)] = Assistant(engine)
    return assistant


def warm_assistants(app: FastAPI, engines: Sequence[Engine]) -> threading.Thread | None:
    """Make the assistant of each store that has assistant knowledge (an FAQ, documents or
    product content ingested) and load its evidence reranker in a background thread, so
    the first question does not wait for PyTorch and MiniLM to load (several seconds).
    Servers call this at start; a store whose assistant holds nothing yet is left to its
    first question. Returns the thread (None when there is nothing to warm)."""
    chosen = [e for e in engines if e.workspace.assistant_dir.is_dir() and any(e.workspace.assistant_dir.iterdir())]
    if not chosen:
        return None

    def run() -> None:
        for engine in chosen:
            try:
                _assistant_of(app.state, engine).reranker()
            except Exception:  # noqa: BLE001 - a background warm-up: the first question loads it instead
                logging.getLogger("cartwise").exception("warming the assistant failed")

    thread = threading.Thread(target=run, name="assistant-warm", daemon=True)
    thread.start()
    return thread


class AssistRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS, description="what the shopper wrote")
    user_id: Id | None = None
    item_id: Id | None = Field(default=None, description="the product open on the page, if any")
    conversation_id: Id | None = Field(
        default=None, description="keeps context between turns: a later 'does it come in blue?' is about the "
        "product of the earlier question"
    )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: Id = Field(description="the `answer_id` of the answer the shopper rated")
    helpful: StrictBool = Field(description="true or false (JSON booleans only: \"yes\" or 1 is refused)")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


class FeedbackAccepted(BaseModel):
    answer_id: str
    helpful: bool


class KnowledgeBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(max_length=MAX_BATCH, description=f"up to {MAX_BATCH} FAQ entries or documents")


@router.post("", response_model=AssistAnswer, responses=ERRORS, dependencies=[require(Scope.SEARCH)])
def assist(body: AssistRequest, assistant: Annotated[Assistant, Depends(get_assistant)]) -> AssistAnswer:
    """Answer one message: a product question from the product's passages, a store question
    from the FAQ and policies, a shopping request with a search. Evidence below the
    calibrated threshold is not used: the answer says so and hands the question off."""
    return assistant.answer(body.message, item_id=body.item_id, conversation_id=body.conversation_id,
                            user_id=body.user_id)


@router.post("/feedback", response_model=FeedbackAccepted, responses=ERRORS, dependencies=[require(Scope.SEARCH)])
def feedback(body: FeedbackRequest, assistant: Annotated[Assistant, Depends(get_assistant)]) -> FeedbackAccepted:
    """"Was this helpful?" for an answer (404 for an answer_id the log does not have). A
    `search` key may send it, as the storefront's chat widget does; a second rating of the
    same answer replaces the first in the report."""
    assistant.feedback(body.answer_id, helpful=body.helpful, comment=body.comment)
    return FeedbackAccepted(answer_id=body.answer_id, helpful=body.helpful)


@router.get("/report", response_model=AssistReport, dependencies=[require(Scope.ADMIN)])
def report(
    assistant: Annotated[Assistant, Depends(get_assistant)],
    since_ms: Annotated[int | None, Query(ge=0)] = None,
) -> AssistReport:
    """Questions by route, answered and handed off, feedback (the latest rating of each
    answer), the questions handed off (most asked first, with the products they were about):
    the FAQ's to-do list, and the answers rated not helpful (newest first)."""
    if assistant.log is None:
        return AssistReport(questions=0, by_route={}, answered=0, handed_off=0, feedback=0, helpful=0,
                            helpful_rate=None, unanswered=[])
    return assistant.log.report(since_ms=since_ms)


@router.post("/faq", responses=ERRORS, dependencies=[require(Scope.ADMIN)])
def add_faq(body: KnowledgeBatch, assistant: Annotated[Assistant, Depends(get_assistant)]) -> dict[str, Any]:
    """Add or replace FAQ entries (question, answer, faq_id, category, language); bad rows
    are reported by index and reason."""
    return assistant.ingest_faq(body.rows).to_dict()


@router.post("/documents", responses=ERRORS, dependencies=[require(Scope.ADMIN)])
def add_documents(body: KnowledgeBatch, assistant: Annotated[Assistant, Depends(get_assistant)]) -> dict[str, Any]:
    """Add or replace documents (doc_id, kind, text, item_id, title), split into passages."""
    return assistant.ingest_documents(body.rows).to_dict()
