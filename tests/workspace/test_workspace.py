"""The store's file layout: every path comes from the Workspace, and it is the layout
stores were created with before it existed (so existing stores keep working)."""

from pathlib import Path

from cartwise.workspace import Workspace


def test_layout_is_the_one_existing_stores_have(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.models_dir == tmp_path / "models"
    assert workspace.reports_dir == tmp_path / "reports"
    assert workspace.runs_dir == tmp_path / "runs"
    assert workspace.demo_dir == tmp_path / "demo"
    assert workspace.embeddings_dir("multilingual-e5-small-q4") == tmp_path / "embeddings" / "multilingual-e5-small-q4"
    assert workspace.checkpoints_dir("sequential") == tmp_path / "checkpoints" / "sequential"


def test_create_makes_only_the_directories_every_store_has(tmp_path):
    workspace = Workspace(tmp_path / "new").create()
    assert sorted(p.name for p in workspace.root.iterdir()) == ["models", "reports"]
    assert workspace.create() == workspace  # idempotent


def test_a_str_root_is_a_path():
    assert Workspace("cartwise-data").root == Path("cartwise-data")  # type: ignore[arg-type]
