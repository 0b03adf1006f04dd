"""Shared fixture: one fast run of the whole DVC pipeline on a small sample, in a scratch project.

It runs exactly what a user runs (``dvc repro`` calling the Prefect flows) so the end-to-end,
behavioural, CLI and packaging tests all exercise the real artifacts, and it runs once per session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from genre.settings import merge_overrides

REPO = Path(__file__).resolve().parents[1]
FAST_PARAMS = {
    "ingest": {"sample_rows": 1500},
    "train_classifier": {"epochs": 30, "rf_n_estimators": 25, "rf_cv_folds": 3},
    "synthesize_pairs": {"k": 200},
    "train_generator": {"cvae": {"epochs": 80, "batch_size": 64, "patience": 20}},
    "recourse": {"n_candidates": 50, "threshold": 0.7},  # a small-sample h is rarely more confident
    "evaluate": {
        "n_factuals": 50,
        "consistency_sources": 20,
        "consistency_samples": 20,
        "sweep_candidates": [1, 10],
        "sweep_temperatures": [0.5, 1.0],
    },
}


@dataclass(frozen=True)
class FastProject:
    root: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=900)

    def copy_to(self, dest: Path) -> FastProject:
        """An independent copy (repo, DVC cache, artifacts): for tests that change params."""
        shutil.copytree(self.root, dest, symlinks=True)
        moved = {k: v.replace(str(self.root), str(dest)) for k, v in self.env.items()}
        return FastProject(dest, moved)


def make_project(root: Path) -> FastProject:
    """A copy of the project (code, raw data, pipeline definition) with fast params, as its own repo."""
    for folder in ("genre", "flows", "data/raw"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "bentofile.yaml"):
        shutil.copy(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    merge_overrides(params, FAST_PARAMS)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "BENTOML_HOME": str(root / ".bentoml"),
        "PREFECT_HOME": str(root / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "BENTOML_DO_NOT_TRACK": "true",
        "GX_ANALYTICS_ENABLED": "false",
    }
    project = FastProject(root, env)
    for cmd in (("git", "init", "-q"), ("dvc", "init", "-q"), ("dvc", "config", "core.analytics", "false")):
        done = project.run(*cmd)
        assert done.returncode == 0, done.stderr
    return project


@pytest.fixture(scope="session")
def fast_project(tmp_path_factory: pytest.TempPathFactory) -> FastProject:
    project = make_project(tmp_path_factory.mktemp("fast_project"))
    done = project.run("dvc", "repro")
    assert done.returncode == 0, f"dvc repro failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return project
