"""Redirect rules: a query that should open a page, not a result list (the search answer
carries the URL in `redirect`; its items are still listed)::

    - {id: returns, kind: redirect, url: /help/returns, scope: {query: [returns, refund]}}
"""

from __future__ import annotations

from typing import ClassVar

from cartwise.rules.document import Fields
from cartwise.rules.kinds.registry import RuleKind, register_kind
from cartwise.rules.probes import Probes


@register_kind
class Redirect(RuleKind):
    name: ClassVar[str] = "redirect"
    phase: ClassVar[str] = "answer"
    fields: ClassVar[tuple[str, ...]] = ("url",)

    def __init__(self, fields: Fields, probes: Probes) -> None:
        self.url = fields.text("url", max_length=2000)
        if self.url is not None and not (self.url.startswith(("https://", "http://", "/")) and " " not in self.url):
            fields.problem("url", f"expected an http(s) URL or a path starting with '/', got {self.url!r}")
        scope = fields.data.get("scope")
        if not (isinstance(scope, dict) and "query" in scope):
            fields.problem("scope", "a redirect needs a query scope (scope: {query: ...}): which searches it redirects")

    def describe(self) -> str:
        return f"to {self.url}"


__all__ = ["Redirect"]
