"""Synonyms and query rewrites (one-way and two-way, English and Chinese), managed like
rules, and synonym suggestions mined from queries that led to the same purchases (the graph
miner: tests/rules/test_graph_synonyms.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from cartwise.cli.main import app
from cartwise.rules.mining import suggest_synonyms
from tests.rules.helpers import ids, touched, use


def test_a_two_way_synonym_finds_either_word(engine):
    assert ids(engine.search("cup", k=5, mode="lexical", fallback=False)) == []
    use(engine, "synonyms: [{id: cup-mug, terms: [cup, mug]}]")
    answer = engine.search("cup", k=5, mode="lexical", fallback=False)
    assert set(ids(answer)) == {"mug-red", "mug-blue"} and answer.searched == "cup mug"
    assert touched(answer)["cup-mug"] == ["searched 'cup' also as mug"]
    assert all("matches mug" in i.reason for i in answer.items)
    back = engine.search("mug", k=5, mode="lexical", fallback=False)
    assert touched(back)["cup-mug"] == ["searched 'mug' also as cup"]


def test_a_one_way_synonym_never_goes_back(engine):
    use(engine, "synonyms: [{id: kettle, from: [kettle], to: [teapot]}]")
    assert ids(engine.search("kettle", k=5, mode="lexical", fallback=False)) == ["teapot"]
    plain = engine.search("teapot", k=5, mode="lexical", fallback=False)
    assert plain.rules == [] and plain.searched is None


def test_chinese_and_english_synonyms(engine):
    use(engine, "synonyms: [{id: dress, terms: [dress, 连衣裙]}]")
    english = engine.search("dress", k=5, mode="lexical", fallback=False, understand=False)
    assert {"dress-red", "dress-zh"} <= set(ids(english))
    chinese = engine.search("夏季连衣裙", k=5, mode="lexical", fallback=False, understand=False)
    assert {"dress-red", "dress-zh"} <= set(ids(chinese)) and "dress" in touched(chinese)


def test_synonyms_are_managed_like_rules(engine):
    engine.rules.put({"id": "cup-mug", "terms": ["cup", "mug"]})
    assert "mug-red" in ids(engine.search("cup", k=5, mode="lexical", fallback=False))
    versions = engine.rules.list_versions()
    engine.rules.delete("cup-mug")
    assert ids(engine.search("cup", k=5, mode="lexical", fallback=False)) == []
    assert len(engine.rules.list_versions()) == len(versions) + 1


def _shoppers_buying_after(query: str, users: range, items: list[str], start: int) -> list[dict]:
    events = []
    for n in users:
        t = start + n * 1000
        events.append({"user_id": f"s{n}", "event_type": "search", "query": query, "timestamp": t})
        events.append({"user_id": f"s{n}", "item_id": items[n % len(items)], "event_type": "purchase",
                       "timestamp": t + 60})
    return events


def test_suggested_synonyms_come_from_queries_that_led_to_the_same_purchases(engine, tmp_path):
    start = 1_700_100_000
    events = (
        _shoppers_buying_after("tea warmer", range(6), ["tea-cosy", "teapot"], start)
        + _shoppers_buying_after("Pot Cover", range(6, 12), ["tea-cosy", "teapot"], start)
        + _shoppers_buying_after("tea", range(12, 18), ["tea-cosy", "teapot"], start)  # refines "tea warmer"
        + _shoppers_buying_after("wool", range(18, 24), ["socks"], start)
    )
    # A purchase an hour after the search is not credited to it.
    events += [{"user_id": "late", "event_type": "search", "query": "wool", "timestamp": start},
               {"user_id": "late", "item_id": "teapot", "event_type": "purchase", "timestamp": start + 3600}]
    assert engine.add_events(events).rows_rejected == 0
    # A search answer's impression credits the purchases that name it.
    answer = engine.search("warmer for pots", k=3, user_id="shopper-x")
    engine.impressions.flush()
    credited = [{"user_id": "shopper-x", "item_id": item, "event_type": "purchase", "timestamp": start + 5,
                 "request_id": answer.request_id} for item in ("tea-cosy", "teapot")]
    assert engine.add_events(credited).rows_rejected == 0
    found = suggest_synonyms(engine.store, rules=engine.rules.current())
    pairs = {s.terms: s for s in found}
    assert ("pot cover", "tea warmer") in pairs and pairs["pot cover", "tea warmer"].support == 2
    assert ("pot cover", "warmer for pots") in pairs
    assert ("tea", "tea warmer") not in pairs  # a refinement, not a synonym
    assert not any("wool" in terms for terms in pairs)
    # Suggestions are not applied until accepted, and an accepted pair is no longer suggested.
    assert engine.rules.current().synonyms.rewrite("pot cover").applied == ()
    suggestion = pairs["pot cover", "tea warmer"]
    result = CliRunner().invoke(app, ["rules", "suggest-synonyms", "--store", str(engine.store.path),
                                      "--accept", suggestion.suggestion_id])
    assert result.exit_code == 0, result.output
    engine.rules.current()
    engine.rules._checked = float("-inf")  # the CLI wrote a new version; read it now, not in a second
    assert engine.rules.current().synonyms.rewrite("pot cover").text == "pot cover tea warmer"
    assert ("pot cover", "tea warmer") not in {s.terms for s in suggest_synonyms(engine.store,
                                                                                 rules=engine.rules.current())}
