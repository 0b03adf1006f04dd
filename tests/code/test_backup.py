"""The registry and the accepted batches are kept where DVC can restore them: every version in the
DVC cache (and on a remote when one is named), any earlier one brought back by ``dvc checkout``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from genre.retraining.backup import BackupFailed, back_up
from genre.settings import IngestSettings, RetrainSettings, Settings

INGEST = IngestSettings(train_csv=Path("train.csv"), schema_path=Path("schema.yaml"))


def sh(root: Path, *cmd: str) -> str:
    return subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "registry").mkdir(parents=True)
    (root / "data/raw/accepted").mkdir(parents=True)
    (root / "registry/production.json").write_text('{"current": "first"}')
    (root / "data/raw/accepted/2027-w01.csv").write_text("age,income\n40,1\n")
    sh(root, "git", "init", "-q")
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "config", "core.analytics", "false")
    return root


def test_each_version_is_kept_and_an_earlier_one_restored(project: Path) -> None:
    settings = Settings(ingest=INGEST, root=project)
    said = back_up(settings)
    assert said.startswith("registry (with 1 accepted batches in registry/accepted) kept in the DVC cache")
    first = (project / "registry.dvc").read_text()
    assert (project / "registry/accepted/2027-w01.csv").read_text() == "age,income\n40,1\n"
    assert not (project / "data/raw/accepted.dvc").exists()  # nothing new inside what ingest reads
    (project / "registry/production.json").write_text('{"current": "second"}')
    (project / "data/raw/accepted/2027-w01.csv").unlink()  # withdrawn, say
    (project / "data/raw/accepted/2027-w02.csv").write_text("age,income\n50,0\n")
    back_up(settings)
    assert sorted(p.name for p in (project / "registry/accepted").iterdir()) == ["2027-w02.csv"]
    assert (project / "registry.dvc").read_text() != first
    (project / "registry.dvc").write_text(first)  # as `git checkout <earlier> -- registry.dvc` would
    sh(project, "dvc", "checkout", "--force", "registry.dvc")
    assert (project / "registry/production.json").read_text() == '{"current": "first"}'
    assert sorted(p.name for p in (project / "registry/accepted").iterdir()) == ["2027-w01.csv"]


def test_a_named_remote_gets_every_version(project: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    sh(project, "dvc", "remote", "add", "offsite", str(remote))
    said = back_up(Settings(ingest=INGEST, root=project, retrain=RetrainSettings(backup_remote="offsite")))
    assert said.endswith("and pushed to the DVC remote offsite")
    assert len([p for p in remote.rglob("*") if p.is_file()]) >= 3  # the listing, the pointer, the batch


def test_a_failure_is_one_line_and_off_means_off(project: Path, tmp_path: Path) -> None:
    with pytest.raises(BackupFailed, match="dvc push failed: .*nowhere"):
        back_up(Settings(ingest=INGEST, root=project, retrain=RetrainSettings(backup_remote="nowhere")))
    with pytest.raises(BackupFailed, match="is not a DVC repository"):
        back_up(Settings(ingest=INGEST, root=tmp_path))
    off = Settings(ingest=INGEST, root=tmp_path, retrain=RetrainSettings(backup=False))
    assert back_up(off).startswith("not backed up")
