"""A throwaway copy of the project for benchmarks that run it as an operator would: its code, data,
pipeline and params in a folder of its own, with its own git and DVC repo and BentoML store, so a
replay never touches the checkout it was started from."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def scratch_project(root: Path) -> dict[str, str]:
    """A copy of the project at ``root`` (replacing whatever was there); -> the environment to run it in."""
    root = root.resolve()  # the servers and stages it starts run elsewhere: BENTOML_HOME must not be relative
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for folder in ("genre", "flows", "data/raw", "models"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "accepted"))
    for name in ("dvc.yaml", "bentofile.yaml", "params.yaml"):
        shutil.copy(REPO / name, root / name)
    env = {
        **os.environ,
        "BENTOML_HOME": str(root / ".bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GX_ANALYTICS_ENABLED": "false",
    }
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"]):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    return env


def with_params(root: Path, base_params: str, change: dict[str, Any]) -> None:
    """``params.yaml`` as ``base_params`` with ``change`` (section -> key -> value; a dict value is merged)."""
    params = yaml.safe_load(base_params)
    for section, values in change.items():
        for key, value in values.items():
            if isinstance(value, dict):
                params[section][key].update(value)
            else:
                params[section][key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
