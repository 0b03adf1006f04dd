"""Shared fixtures for the service tests: a throwaway BentoML home holding the trained model.

The model under test is the one the session's fast end-to-end pipeline run trained (see
``tests/conftest.py``), so these tests run on every checkout, trained or not.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from genre.schema import load_schema

# BentoML reads BENTOML_HOME lazily, on the first store access, and then caches the home and every
# store derived from it for the life of the process (simple_di singletons in
# bentoml._internal.configuration.containers). A fixture's monkeypatch would come too late if any
# test had touched a store before it, so the variable is set while pytest imports this file, which
# happens before any test runs. Nothing the tests do can then reach the user's ~/bentoml.
BENTOML_HOME = Path(tempfile.mkdtemp(prefix="genre-test-bentoml-home-"))
os.environ["BENTOML_HOME"] = str(BENTOML_HOME)
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")



@pytest.fixture(scope="session", autouse=True)
def bentoml_home() -> Iterator[Path]:
    from bentoml._internal.configuration.containers import BentoMLContainer

    home = Path(BentoMLContainer.bentoml_home.get())
    if home != BENTOML_HOME:
        pytest.fail(f"BentoML's store was opened at {home} before tests/service/conftest.py set BENTOML_HOME")
    yield home
    shutil.rmtree(BENTOML_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def trained(fast_project) -> Path:
    """Root of a project holding a freshly trained model (and its params.yaml and source)."""
    return fast_project.root


@pytest.fixture(scope="session")
def test_rows(trained: Path) -> pd.DataFrame:
    """Held-out applicants in raw units, without the label (callers never send it)."""
    target = load_schema(trained / "data/prepared/schema.yaml").target.name
    return pd.read_csv(trained / "data/prepared/test.csv").drop(columns=[target])
