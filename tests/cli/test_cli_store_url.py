"""`--store` takes a store URL as well as a directory; both name the same store."""

import json

import pytest
from typer.testing import CliRunner

from cartwise.cli.main import app
from cartwise.errors import StoreError

runner = CliRunner()


def test_a_store_url_and_its_directory_are_the_same_store(tmp_path):
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item_id,title\nmug,Red mug\ncup,Blue cup\n")
    url = f"sqlite://{tmp_path / 'store'}"
    ingested = runner.invoke(app, ["ingest", "items", str(catalog), "--store", url, "--json"], catch_exceptions=False)
    assert ingested.exit_code == 0, ingested.output
    stats = runner.invoke(app, ["stats", "--store", str(tmp_path / "store"), "--json"], catch_exceptions=False)
    assert json.loads(stats.output)["store"]["items"] == 2
    listed = runner.invoke(app, ["keys", "list", "--store", url, "--json"], catch_exceptions=False)
    assert listed.exit_code == 0 and json.loads(listed.output) == []


def test_an_unknown_store_scheme_names_the_known_ones(tmp_path):
    with pytest.raises(StoreError, match=r"mysql:// stores are not available: known schemes: postgres://, postgresql://, sqlite://"):
        runner.invoke(app, ["stats", "--store", "mysql://shop@db/cartwise"], catch_exceptions=False)
