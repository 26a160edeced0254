"""The demo: its data (no case-only duplicate ids), its example user, its page and command."""

import re
import shutil
import subprocess
from importlib import resources

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.cli.main import app
from cartwise.demo import EVENT_MAPPING, EXAMPLE_USER, build_catalog, build_purchases, packaged_slice
from cartwise.engine import DEFAULT_STORE
from cartwise.errors import ValidationError

# The storefront: its page, style sheet and script, read as one text.
PAGE = "\n".join(resources.files("cartwise.web").joinpath(name).read_text(encoding="utf-8")
                 for name in ("shop.html", "shop.css", "shop.js"))


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    source = packaged_slice()
    return build_catalog(source, directory / "catalog.parquet"), build_purchases(source, directory / "purchases.csv")


def test_demo_build_has_no_case_only_id_collisions(demo_files):
    catalog_path, purchases_path = demo_files
    catalog = pl.read_parquet(catalog_path)
    ids = catalog["item_id"]
    assert ids.str.to_uppercase().n_unique() == ids.len() == ids.n_unique()
    # 15056BL and 15056bl were one parasol at two prices: now one item at the price paid most often.
    parasol = catalog.filter(pl.col("item_id").str.to_uppercase() == "15056BL")
    assert parasol.rows() == [("15056BL", "EDWARDIAN PARASOL BLACK", 5.95, "GBP", True)]
    purchases = pl.read_csv(purchases_path, infer_schema=False)
    source = pl.read_csv(packaged_slice(), infer_schema=False)
    assert purchases.height == source.height  # same lines, same order: reports' line numbers hold
    assert (purchases["StockCode"] == source["StockCode"].str.to_uppercase()).all()


def test_example_user_of_the_page_has_a_rich_history_in_the_demo_store(demo_files, tmp_path):
    named = re.search(r'data-example-user="([^"]+)"', PAGE).group(1)
    assert named == EXAMPLE_USER and "17850" not in PAGE
    assert f"e.g. {EXAMPLE_USER}" in PAGE
    engine = Engine.open(tmp_path / "store")
    catalog_path, purchases_path = demo_files
    engine.ingest_items(catalog_path)
    engine.ingest_events(purchases_path, mapping=EVENT_MAPPING, unknown_items="reject")
    events = engine.store.events(exclude_flagged=True).filter(pl.col("user_id") == EXAMPLE_USER)
    assert events["session_id"].n_unique() >= 10 and events["item_id"].n_unique() >= 30


def test_page_hides_developer_details_unless_asked():
    toggle = re.search(r'<input type="checkbox" id="dev"[^>]*>', PAGE).group(0)
    assert "checked" not in toggle
    assert ".dev { display: none; }" in PAGE and "body.dev-on .dev" in PAGE
    # The model version and timings are written only inside developer-only elements.
    for line in PAGE.splitlines():
        if "model.version" in line or "took_ms.toFixed" in line:
            assert 'class="dev' in line, line


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_page_shows_shoppers_reasons_without_scores_or_model_names():
    function = re.search(r"function shopperReason\(reason\) \{.*?\n\}", PAGE, re.S).group(0)
    script = function + """
for (const r of ["matches heart; close in meaning (similarity 0.87)", "matches the taste of your recent choices (als)",
                 "because you bought 'PAPER CHAIN KIT'"]) console.log(shopperReason(r));"""
    shown = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert shown == ["matches heart; close in meaning", "matches the taste of your recent choices",
                     "because you bought 'PAPER CHAIN KIT'"]


def test_demo_uses_the_store_every_command_uses():
    command = typer.main.get_command(app).commands["demo"]
    store = next(p for p in command.params if p.name == "store")
    assert store.default == DEFAULT_STORE and store.envvar == "CARTWISE_STORE"


def test_demo_refuses_a_store_holding_another_catalog(engine):
    before = engine.stats().items
    with pytest.raises(ValidationError) as raised:
        CliRunner().invoke(app, ["demo", "--no-serve", "--store", str(engine.store.path)], catch_exceptions=False)
    assert raised.value.field == "store" and "cartwise demo --store" in raised.value.hint
    assert engine.stats().items == before and not (engine.store.path / "demo").exists()


def test_the_demo_shops_assistant_answers_store_questions_from_its_sample_faq(engine):
    from cartwise.assistant.assistant import Assistant
    from cartwise.cli.assist import install_demo_knowledge

    install_demo_knowledge(engine)
    install_demo_knowledge(engine)  # a second run replaces the entries by id: nothing doubles
    assistant = Assistant(engine, reranker=False, log=False)
    knowledge = assistant.knowledge.load()
    assert len(knowledge.faq) == 24 and {p.doc_id for p in knowledge.passages} == {
        "policy-delivery", "policy-returns", "policy-trade", "policy-privacy"}
    for message, entry in [("How do I return an item?", "returns"), ("do prices include VAT?", "vat"),
                           ("怎么退货", "zh-returns"), ("运费多少钱？", "zh-shipping-cost"), ("有批发吗", "zh-wholesale")]:
        answer = assistant.answer(message)
        assert answer.route == "store" and answer.answered, (message, answer.reply)
        assert answer.evidence[0].doc_id == entry, (message, answer.evidence[0].doc_id)
    # What the FAQ does not cover goes to a person.
    uncovered = assistant.answer("do you have a loyalty programme?")
    assert uncovered.route == "store" and uncovered.handoff and not uncovered.answered
