"""The demo shop's store knowledge for the shopping assistant: a sample FAQ (English and
Chinese: returns, refunds, delivery, payment, VAT, trade accounts, gift wrapping, contact) and
policies (delivery, returns, trade accounts, privacy), written for the demo. Online Retail
(the demo's catalog and purchases) comes with no such texts; a real store replaces these with
its own (``cartwise assist faq`` / ``cartwise assist documents``). `cartwise demo` ingests both,
so the storefront's chat widget answers store questions from the first run."""

from __future__ import annotations

from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"
FAQ_PATH = _DATA / "faq.csv"
"""faq_id, question, answer, category, language (15 English entries, 9 Chinese)."""
POLICIES_PATH = _DATA / "policies.jsonl"
"""Policy documents (doc_id, kind=policy, title, text), split into passages at ingest."""

__all__ = ["FAQ_PATH", "POLICIES_PATH"]
