"""Choosing a store back end by URL scheme."""

from pathlib import Path

import pytest

from cartwise.errors import StoreError
from cartwise.store import SQLiteStore, open_store, register_store, store_schemes
from cartwise.store.registry import _BACKENDS, split_store_url


def test_urls_and_plain_paths_are_told_apart():
    assert split_store_url("sqlite:///srv/shop") == ("sqlite", "/srv/shop")
    assert split_store_url("SQLite://relative/dir") == ("sqlite", "relative/dir")
    assert split_store_url("cartwise-data") == (None, "cartwise-data")
    assert split_store_url("weird:name") == (None, "weird:name")
    assert split_store_url(Path("/srv/shop")) == (None, "/srv/shop")


def test_a_plain_path_opens_the_embedded_store(tmp_path):
    assert isinstance(open_store(str(tmp_path / "s")), SQLiteStore)


def test_an_unknown_scheme_lists_the_known_ones_without_echoing_the_url():
    with pytest.raises(StoreError) as raised:
        open_store("mysql://shop:secret@db.example/cartwise")
    assert "mysql://" in raised.value.message and "sqlite://" in raised.value.message
    assert "postgresql://" in raised.value.message
    assert "secret" not in str(raised.value)


def test_a_url_without_a_location_is_refused():
    with pytest.raises(StoreError, match="names no location"):
        open_store("sqlite://")


def test_a_registered_scheme_opens_through_its_opener(tmp_path, monkeypatch):
    monkeypatch.setattr("cartwise.store.registry._BACKENDS", dict(_BACKENDS))
    opened: list[tuple[str, bool]] = []

    def opener(location: str, *, create: bool) -> SQLiteStore:
        opened.append((location, create))
        return SQLiteStore(tmp_path / location, create=create)

    register_store(["memo", "memo+x"], opener, scratch_url=lambda tmp: None, name="memo")
    assert {"memo", "memo+x", "sqlite"} <= set(store_schemes())
    store = open_store("memo+x://shop", create=True)
    assert opened == [("shop", True)] and store.path == tmp_path / "shop"
    with pytest.raises(ValueError, match="already the memo store's"):
        register_store(["memo"], opener, scratch_url=lambda tmp: None, name="other")
