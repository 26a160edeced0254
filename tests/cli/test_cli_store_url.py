"""`--store` takes a store URL as well as a directory; both name the same store."""

import json

import psycopg
import pytest
from typer.testing import CliRunner

from cartwise.cli.main import app
from cartwise.errors import StoreError
from cartwise.store.postgres import PostgresLocation, _scratch_url, drop_store

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


def test_a_postgresql_url_works_as_store(tmp_path):
    url = _scratch_url(tmp_path)
    if url is None:
        pytest.skip("no PostgreSQL server answered at $CARTWISE_TEST_POSTGRESQL (default postgresql://127.0.0.1:5432/test)")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item_id,title\nmug,Red mug\ncup,Blue cup\n")
    try:
        ingested = runner.invoke(app, ["ingest", "items", str(catalog), "--store", url, "--json"], catch_exceptions=False)
        assert ingested.exit_code == 0, ingested.output
        assert json.loads(ingested.stdout)["rows_written"] == 2
        created = runner.invoke(app, ["keys", "create", "--scope", "admin", "--store", url, "--json"],
                                catch_exceptions=False)
        assert created.exit_code == 0, created.output
        stats = json.loads(runner.invoke(app, ["stats", "--store", url, "--json"], catch_exceptions=False).stdout)
        assert stats["store"]["items"] == 2
        listed = json.loads(runner.invoke(app, ["keys", "list", "--store", url, "--json"], catch_exceptions=False).stdout)
        assert [key["scope"] for key in listed] == ["admin"]
        secret = json.loads(created.stdout)["secret"]
        assert secret not in json.dumps(listed)
        where = PostgresLocation.parse(url)
        with psycopg.connect(where.conninfo) as conn:  # what the server holds: a hash, never the secret
            rows = conn.execute(f"SELECT * FROM {where.schema}.api_keys").fetchall()
        assert len(rows) == 1 and secret not in repr(rows)
    finally:
        drop_store(url)
