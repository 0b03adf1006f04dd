"""Shared fixtures: one local Prefect server for the whole session, and one fast run of the whole
DVC pipeline on a small sample, in a scratch project.

The pipeline run is exactly what a user runs (``dvc repro`` calling the Prefect flows) so the
end-to-end, behavioural, CLI and packaging tests all exercise the real artifacts; it runs once per
session. Every project the tests make reports to the session's Prefect server, so no stage of any
test waits for a Prefect server of its own to start.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from flows.server import DEFAULT_START_TIMEOUT_S, SharedServer
from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema
from genre.settings import merge_overrides

REPO = Path(__file__).resolve().parents[1]
# The fast project answers by the paper's protocol (every feature but race and sex free), where
# each mechanism (alternatives, rules, limits a request sets) has room to act on 1,500 rows; the
# embedded schema's constraints are tested on a project of their own (tests/e2e/test_actionable.py).
PAPER_SCHEMA = "data/raw/adult/paper.schema.yaml"
FAST_PARAMS = {
    "ingest": {"sample_rows": 1500, "schema_path": PAPER_SCHEMA},
    "train_classifier": {"epochs": 30, "rf_n_estimators": 25, "rf_cv_folds": 3},
    "synthesize_pairs": {"k": 200},
    # One pass per epoch, as before epochs were scaled to the data (tests/code/test_training.py
    # covers the scaling): on the 1,500-row sample it would make the generator train 4x longer.
    "train_generator": {"cvae": {"epochs": 80, "batch_size": 64, "patience": 20, "min_steps_per_epoch": 1}},
    "recourse": {
        "n_candidates": 50,
        "threshold": 0.7,
    },  # auto gives 0.87 on this sample, where 50 candidates find too few
    "evaluate": {
        "n_factuals": 50,
        "selection_applicants": 100,
        "consistency_sources": 20,
        "consistency_samples": 20,
        "sweep_candidates": [1, 10],
        "sweep_temperatures": [0.5, 1.0],
    },
}


NAMED_IMPORTS = ("stage_flow", "import_module")  # calls that import a module given by name


class ImportGraph:
    """The project's modules and the project modules each one imports, read from the source: every
    ``import`` statement, those inside functions included, so a lazy import counts like any other,
    and every module named by a string to a call in ``NAMED_IMPORTS``. ``from pkg import mod``
    counts as importing ``mod``."""

    def __init__(self, root: Path, packages: tuple[str, ...] = ("genre", "flows", "research")) -> None:
        self.root, self.packages = root, packages
        self._trees: dict[str, ast.Module] = {}

    @cached_property
    def modules(self) -> dict[str, Path]:
        found = {}
        for package in self.packages:
            for path in (self.root / package).rglob("*.py"):
                parts = path.relative_to(self.root).with_suffix("").parts
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        return found

    @cached_property
    def service_module(self) -> str:
        """The module ``bentofile.yaml`` builds the service from (the package stage imports it)."""
        return yaml.safe_load((self.root / "bentofile.yaml").read_text())["service"].split(":")[0]

    def tree(self, name: str) -> ast.Module:
        if name not in self._trees:
            self._trees[name] = ast.parse(self.modules[name].read_text())
        return self._trees[name]

    def imports(self, name: str) -> set[str]:
        return {m for m in self.named(name) if m in self.modules and m != name}

    def named(self, name: str) -> set[str]:
        """Every module ``name``'s source imports or names to an import call, the project's or not."""
        found = set()
        for node in ast.walk(self.tree(name)):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) in NAMED_IMPORTS
            ):
                # a module named by a string and imported by that call (flows.stage.stage_flow)
                found.update(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        return found

    def closure(self, roots: set[str]) -> set[str]:
        """``roots`` and every project module they import, however indirectly."""
        seen, todo = set(), list(roots)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.imports(name))
        return seen

    def files(self, names: set[str]) -> set[str]:
        return {str(self.modules[n].relative_to(self.root)) for n in names}


# Tests that run the pipeline, a service or a Prefect server: the ``slow`` ones, left out of the fast
# loop (``pytest -m "not slow"``). A whole folder, so a new test there is slow without a decorator,
# and any test that needs a built project, wherever it lives.
SLOW_FOLDERS = ("e2e", "service", "research")
SLOW_FIXTURES = {"fast_project", "new_project", "prefect_api_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tests, and refuse tests that share a node id: pytest-xdist (the suite's two
    workers) runs only the first of them, and the others would pass by never running."""
    repeated = sorted(nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1)
    if repeated:
        raise pytest.UsageError(f"tests share a node id, so pytest-xdist would run only one of each: {repeated}")
    tests = REPO / "tests"
    for item in items:
        folder = item.path.relative_to(tests).parts[0] if item.path.is_relative_to(tests) else ""
        if folder in SLOW_FOLDERS or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """Torch threads set deliberately, as the stages set them from params: a tiny model trained
    in-process on torch's default count thrashes on a busy machine. Pipeline stages run in their own
    processes and set their own."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def import_graph() -> ImportGraph:
    return ImportGraph(REPO)


@dataclass(frozen=True)
class FastProject:
    root: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=3600)

    def copy_to(self, dest: Path) -> FastProject:
        """An independent copy (repo, DVC cache, artifacts): for tests that change params."""
        shutil.copytree(self.root, dest, symlinks=True)
        moved = {k: v.replace(str(self.root), str(dest)) for k, v in self.env.items()}
        return FastProject(dest, moved)


@pytest.fixture(scope="session")
def prefect_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's Prefect API: the user's server if PREFECT_API_URL is set, else one shared local
    server in a scratch Prefect home, stopped when the session ends."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    shared = SharedServer(tmp_path_factory.mktemp("prefect_home"))
    with shared.client(DEFAULT_START_TIMEOUT_S) as url:
        yield url
    shared.stop()


def make_project(root: Path, prefect_api_url: str) -> FastProject:
    """A copy of the project (code, raw data, pipeline definition) with fast params, as its own repo."""
    for folder in ("genre", "flows", "data/raw", "models"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "bentofile.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copy(REPO / "benchmarks/datasets/adult-paper.schema.yaml", root / PAPER_SCHEMA)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    merge_overrides(params, FAST_PARAMS)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "BENTOML_HOME": str(root / ".bentoml"),
        "PREFECT_HOME": str(root / ".prefect"),
        "PREFECT_API_URL": prefect_api_url,
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
def new_project(tmp_path_factory: pytest.TempPathFactory, prefect_api_url: str) -> Callable[[str], FastProject]:
    """Fresh scratch projects (fast params, each its own repo), for tests that bring their own data."""
    return lambda name: make_project(tmp_path_factory.mktemp(name), prefect_api_url)


@pytest.fixture(scope="session")
def fast_project(tmp_path_factory: pytest.TempPathFactory, prefect_api_url: str) -> FastProject:
    project = make_project(tmp_path_factory.mktemp("fast_project"), prefect_api_url)
    done = project.run("dvc", "repro")
    assert done.returncode == 0, f"dvc repro failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return project


@pytest.fixture
def pre() -> Preprocessor:
    """A 4-feature space with every kind of constraint: an increase-only integer (age, 0-10), a
    decrease-only continuous (debt), an immutable binary (sex) and a free 3-way category (job)."""
    schema = DatasetSchema.model_validate(
        {
            "name": "tiny",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "age": {"kind": "integer", "min": 0, "max": 10, "direction": "increase"},
                "debt": {"kind": "continuous", "min": 0, "max": 1, "direction": "decrease"},
                "sex": {"kind": "categorical", "categories": ["f", "m"], "immutable": True},
                "job": {"kind": "categorical", "categories": ["a", "b", "c"]},
            },
        }
    )
    return Preprocessor(schema, np.zeros(4), np.array([10.0, 1.0, 1.0, 2.0]))


@pytest.fixture
def tiny_rows() -> Callable[..., pd.DataFrame]:
    """``tiny_rows(n, seed=0)``: n seeded raw applicants of ``pre``'s space, every feature drawn
    over its whole range."""

    def rows(n: int, seed: int = 0) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {
                "age": rng.integers(0, 11, n),
                "debt": rng.random(n),
                "sex": rng.choice(["f", "m"], n),
                "job": rng.choice(["a", "b", "c"], n),
            }
        )

    return rows
