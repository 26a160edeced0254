"""Staging directories of killed trains are removed; a concurrent train's is left alone."""

import os
import subprocess
import sys
import textwrap
import time

from cartwise.versions import ModelVersions


def _age(path, seconds=3600):
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_stale_staging_dirs_are_removed_but_not_a_live_trains(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    # Killed trains: one with an unheld lock file, one from before lock files (dead pid in the name).
    killed = models / ".staging-v20260101-000000-123-000001"
    (killed / "lexical").mkdir(parents=True)
    (models / f"{killed.name}.lock").write_text("")
    _age(killed)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    old = models / f".staging-v20260101-000000-{dead.stdout.strip()}-000002"
    old.mkdir()
    _age(old)
    # A concurrent train in another process holds its staging dir until told to stop.
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from cartwise.versions import ModelVersions
        versions = ModelVersions(models_dir=Path({str(models)!r}), store_id="s")
        version, path = versions.new_staging_dir()
        print(path, flush=True)
        sys.stdin.readline()
    """)
    live = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        live_dir = models / os.path.basename(live.stdout.readline().strip())
        _age(live_dir)
        versions = ModelVersions(models_dir=models, store_id="s")  # opening ModelVersions cleans up
        assert not killed.exists() and not (models / f"{killed.name}.lock").exists() and not old.exists()
        assert live_dir.exists()
        # This process's own train is not stale either.
        _, mine = versions.new_staging_dir()
        _age(mine)
        assert ModelVersions(models_dir=models, store_id="s").remove_stale_staging() == []
        assert mine.exists() and live_dir.exists()
        versions.discard_staging(mine)
        assert not mine.exists() and not (models / f"{mine.name}.lock").exists()
    finally:
        live.communicate("\n", timeout=30)
    # Its process gone (killed before saving), the next train's start removes it.
    ModelVersions(models_dir=models, store_id="s").new_staging_dir()
    assert not live_dir.exists()


def test_a_saved_version_releases_its_lock(engine):
    models = engine.workspace.models_dir
    assert not list(models.glob(".staging-*"))  # train cleaned up after itself


def test_a_lock_file_that_vanishes_during_cleanup_is_not_an_error(tmp_path):
    """Another train saving at the same moment deletes its lock file between the listing
    and the look at it; opening ModelVersions (every command does) must not fail then. A
    dangling link stands for such a file: listed, then not there."""
    models = tmp_path / "models"
    models.mkdir()
    (models / ".staging-v20260101-000000-123-000003.lock").symlink_to(tmp_path / "gone")
    ModelVersions(models_dir=models, store_id="s")
