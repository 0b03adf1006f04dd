"""Shared fixtures for the service tests: a throwaway BentoML home holding the trained model.

The model under test is the one the session's fast end-to-end pipeline run trained (see
``tests/conftest.py``), so these tests run on every checkout, trained or not.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from genre.data.schema import load_schema
from genre.recourse.engine import RecourseEngine
from genre.serving.bundle import load_bundle
from genre.settings import ServeSettings, load_settings

# BentoML reads BENTOML_HOME lazily, on the first store access, and then caches the home and every
# store derived from it for the life of the process (simple_di singletons in
# bentoml._internal.configuration.containers). A fixture's monkeypatch would come too late if any
# test had touched a store before it, so the variable is set while pytest imports this file, which
# happens before any test runs. Nothing the tests do can then reach the user's ~/bentoml.
BENTOML_HOME = Path(tempfile.mkdtemp(prefix="genre-test-bentoml-home-"))
os.environ["BENTOML_HOME"] = str(BENTOML_HOME)
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

# Small limits for the service under test, so every limit can be crossed with a small request;
# they reach the service the way production limits do: params -> bundle -> service.
# The answer log is on, so the tests see what a deployment that keeps it records.
ANSWER_LOG = Path(tempfile.mkdtemp(prefix="genre-test-answer-log-"))
# A wide coalescing window, so requests sent together from threads are answered together.
LIMITS = ServeSettings(
    max_batch=8,
    max_alternatives=3,
    max_body_bytes=50_000,
    answer_log=str(ANSWER_LOG),
    answer_log_days=7,
    coalesce_ms=20,
    probability_decimals=None,  # as computed, so answers compare exactly with the library's
)


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


@pytest.fixture(scope="session")
def limits() -> ServeSettings:
    return LIMITS


@pytest.fixture(scope="session")
def model_tag(trained: Path, limits: ServeSettings) -> str:
    """The trained artifacts saved as a model version, exactly as the package stage saves them."""
    from genre.stages.package import save_model

    return str(save_model(load_settings(trained / "params.yaml", serve=limits.model_dump())).tag)


@pytest.fixture(scope="session")
def engine(model_tag: str) -> RecourseEngine:
    import bentoml

    return load_bundle(Path(bentoml.models.get(model_tag).path))


@pytest.fixture(scope="session")
def app(model_tag: str) -> Any:
    """One ASGI app for the session (it serves the newest model in the store: ``model_tag``)."""
    from genre.serving.service import RecourseService

    return RecourseService.to_asgi()


@pytest.fixture(scope="session")
def client(app: Any) -> Iterator[TestClient]:
    """Entering the client runs the app's lifespan, which loads the model; other clients of the
    same app (the fuzzer's) then find it loaded."""
    with TestClient(app) as test_client:
        yield test_client


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (numpy scalars become plain ints/strs)."""
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture(scope="session")
def probabilities(engine: RecourseEngine, test_rows: pd.DataFrame) -> np.ndarray:
    return engine.classifier.predict_proba(engine.pre.transform(test_rows))


@pytest.fixture(scope="session")
def denied(test_rows: pd.DataFrame, probabilities: np.ndarray) -> list[dict[str, Any]]:
    """The first few held-out applicants the classifier clearly turns down."""
    return _records(test_rows.iloc[np.flatnonzero(probabilities < 0.3)[:5]])


@pytest.fixture(scope="session")
def good(denied: list[dict[str, Any]]) -> dict[str, Any]:
    return denied[0]


@pytest.fixture(scope="session")
def accepted(test_rows: pd.DataFrame, probabilities: np.ndarray) -> dict[str, Any]:
    """The held-out applicant the classifier is surest to accept."""
    return _records(test_rows.iloc[[int(np.argmax(probabilities))]])[0]
