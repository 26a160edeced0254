"""Each scope: everywhere, a placement, a query (exact, contains, semantic), a category
page, a user segment, a time window."""

from __future__ import annotations

from datetime import UTC, datetime

from cartwise.rules import trying
from tests.rules.helpers import ids, touched, use

HIDE_SOCKS = "rules: [{id: no-socks, kind: hide, items: [socks], scope: %s}]"


def test_everywhere(engine):
    use(engine, HIDE_SOCKS % "{}")
    assert "socks" not in ids(engine.recommend("nobody", k=10))
    assert "socks" not in ids(engine.search("hiking socks", k=10))
    assert "socks" not in ids(engine.similar("boots", k=10))


def test_a_placement(engine):
    use(engine, HIDE_SOCKS % "{placements: [recommend]}")
    assert "socks" not in ids(engine.recommend("nobody", k=10))
    assert "socks" in ids(engine.search("hiking socks", k=10))


def test_a_query_exact_and_contains(engine):
    use(engine, HIDE_SOCKS % "{query: Wool Socks}")  # plain text: exact, ignoring case and spaces
    assert "socks" not in ids(engine.search("wool   socks", k=10))
    assert "socks" in ids(engine.search("wool socks warm", k=10))
    use(engine, HIDE_SOCKS % "{query: {contains: [sock]}}")  # whole words in Latin text
    assert "socks" in ids(engine.search("wool socks", k=10))
    assert "socks" not in ids(engine.search("a sock please", k=10))
    use(engine, HIDE_SOCKS % "{query: {contains: [袜]}}")  # Chinese: any part of the query
    assert "socks" not in ids(engine.search("羊毛袜子", k=10))


def test_a_query_by_meaning(engine):
    use(engine, HIDE_SOCKS % "{query: {semantic: [warm woollen socks], threshold: 0.9}}")
    answer = engine.search("wool hiking socks", k=10)
    assert "socks" not in ids(answer) and "no-socks" in touched(answer)
    assert "socks" in ids(engine.search("red ceramic mug", k=10))


def test_a_category_page(engine):
    use(engine, "rules: [{id: no-cosy, kind: hide, items: [tea-cosy], scope: {category: Home > Kitchen}}]")
    assert "tea-cosy" not in ids(engine.search("", k=10, filters=["category=Home > Kitchen > Tea"]))
    assert "tea-cosy" in ids(engine.search("", k=10, filters=["category=Home"]))  # a page above it
    assert "tea-cosy" in ids(engine.recommend("nobody", k=10))


def test_a_user_segment(engine):
    use(engine, "rules: [{id: welcome, kind: pin, item: dress-red, position: 1, scope: {segments: [new_visitor]}},"
                " {id: loyal, kind: pin, item: boots-free, position: 1, scope: {segments: [has_purchased]}}]")
    assert ids(engine.recommend("someone-new", k=5))[0] == "dress-red"
    returning = engine.recommend("tea-3", k=5)  # bought the teapot
    assert "dress-red" not in ids(returning)[:1] and "welcome" not in touched(returning)
    assert touched(returning)["loyal"] == ["not pinned: boots-free is not in the catalog"]


def test_a_time_window(engine):
    use(engine, HIDE_SOCKS % "{start: 2030-06-01, end: 2030-06-30T23:59:59Z}")
    assert "socks" in ids(engine.recommend("nobody", k=10))  # not yet
    during = int(datetime(2030, 6, 15, tzinfo=UTC).timestamp() * 1000)
    after = int(datetime(2030, 7, 1, tzinfo=UTC).timestamp() * 1000)
    rules = engine.rules.current()
    with trying(rules, now_ms=during):
        assert "socks" not in ids(engine.recommend("nobody", k=10))
    with trying(rules, now_ms=after):
        assert "socks" in ids(engine.recommend("nobody", k=10))
