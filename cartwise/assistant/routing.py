"""Question routing: is a message a product question, a store question or a shopping request?

The router is a multinomial logistic regression over the message's multilingual-e5 query
embedding and a few rule signals that the embedding alone does not carry:

- ``open_item``: a product is open (an ``item_id`` came with the message, or the
  conversation is about one), which turns "is it waterproof?" into a product question;
- ``price``: query understanding found a price phrase ("under $50", "200元以下"), a strong
  sign of a shopping request;
- ``colour_size``: it found a colour or a size;
- ``question``: the message is phrased as a question (a question mark, 吗/呢, or an
  English question word first), as product and store questions usually are.

The weights ship in ``data/router.npz``, fitted on ``bench/queries/assistant_routing.tsv``
(397 labelled messages, English and Chinese; the labelling rule is in bench/queries/README.md)
by ``python -m cartwise.assistant.routing bench/queries/assistant_routing.tsv``;
``bench/assistant.py`` measures its accuracy by cross-validation.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cartwise.encode.base import TextEncoder
from cartwise.errors import StoreError
from cartwise.search.understand import QueryUnderstanding

WEIGHTS = Path(__file__).parent / "data" / "router.npz"
RULE_SCALE = 0.3
"""Rule signals are 0 or 0.3 next to an embedding of unit length (0.3 and C=64 chosen by
grouped 5-fold cross-validation on the labelled set: 0.984 against 0.976 without the rules)."""
_QUESTION_WORDS = re.compile(
    r"^(is|are|does|do|did|can|could|will|would|should|how|what|which|where|when|why|who|any|has|have)\b", re.IGNORECASE
)
_ZH_QUESTION = re.compile(r"(吗|呢|么|多少|多久|几|怎么|怎样|什么|哪|是否|能否|可否|有没有)")


class Route(StrEnum):
    PRODUCT = "product"
    STORE = "store"
    SHOPPING = "shopping"


@dataclass(frozen=True, slots=True)
class Routing:
    route: Route
    confidence: float
    """The router's probability of `route` (0 to 1)."""
    scores: dict[str, float]
    """Every route's probability."""
    signals: dict[str, bool]
    """The rule signals that went in: open_item, price, colour_size, question."""


_understanding = QueryUnderstanding()


def rule_signals(message: str, *, open_item: bool) -> dict[str, bool]:
    parsed = _understanding.parse(message)
    text = message.strip()
    return {
        "open_item": open_item,
        "price": parsed.price_min is not None or parsed.price_max is not None,
        "colour_size": bool(parsed.colours or parsed.sizes),
        "question": text.endswith(("?", "？")) or bool(_QUESTION_WORDS.match(text)) or bool(_ZH_QUESTION.search(text)),
    }


def features(embeddings: NDArray[np.float32], signals: list[dict[str, bool]]) -> NDArray[np.float32]:
    """One row per message: the embedding, then the signals in a fixed order."""
    names = ("open_item", "price", "colour_size", "question")
    rules = np.array([[float(s[n]) * RULE_SCALE for n in names] for s in signals], dtype=np.float32)
    return np.hstack([embeddings, rules.reshape(len(signals), len(names))])


class Router:
    """Routes messages with the shipped weights (or ones given)."""

    def __init__(self, encoder: TextEncoder, *, weights: Path = WEIGHTS) -> None:
        self.encoder = encoder
        try:
            with np.load(weights) as saved:
                self.coef_ = saved["coef"]
                self.intercept_ = saved["intercept"]
                self.classes_ = [Route(str(c)) for c in saved["classes"]]
                encoder_name = str(saved["encoder"])
        except (OSError, KeyError, ValueError) as exc:
            raise StoreError(f"the router's weights {weights} are unreadable: {exc}") from exc
        if encoder_name != encoder.name:
            raise StoreError(f"the router was fitted on {encoder_name} embeddings, not {encoder.name}")

    def route(self, message: str, *, open_item: bool, embedding: NDArray[np.float32] | None = None) -> Routing:
        """The route of one message; `embedding` is its query vector when already computed."""
        if embedding is None:
            embedding = self.encoder.encode_queries([message])[0]
        signals = rule_signals(message, open_item=open_item)
        x = features(embedding.reshape(1, -1), [signals])[0]
        logits = self.coef_ @ x + self.intercept_
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        best = int(np.argmax(probabilities))
        return Routing(
            route=self.classes_[best],
            confidence=float(probabilities[best]),
            scores={c.value: float(p) for c, p in zip(self.classes_, probabilities, strict=True)},
            signals=signals,
        )


def read_labelled(path: Path | str) -> tuple[list[str], list[bool], list[str], list[str]]:
    """texts, open_item flags, routes and languages of a labelled routing file."""
    texts, items, routes, languages = [], [], [], []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            texts.append(row["text"])
            items.append(row["item"] == "1")
            routes.append(Route(row["route"]).value)
            languages.append(row["lang"])
    return texts, items, routes, languages


def fit(x: NDArray[np.float32], y: list[str], *, c: float = 64.0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000).fit(x, y)


def fit_and_save(path: Path | str, encoder: TextEncoder, out: Path = WEIGHTS) -> None:
    texts, items, routes, _ = read_labelled(path)
    x = features(encoder.encode_queries(texts), [rule_signals(t, open_item=i) for t, i in zip(texts, items, strict=True)])
    model = fit(x, routes)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, coef=model.coef_.astype(np.float32), intercept=model.intercept_.astype(np.float32),
             classes=np.array(model.classes_), encoder=np.array(encoder.name))


if __name__ == "__main__":
    from cartwise.encode import load_encoder

    fit_and_save(sys.argv[1], load_encoder())
    print(f"wrote {WEIGHTS}")
