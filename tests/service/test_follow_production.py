"""A service started for a project (``genre production serve``) follows its production pointer: a
promotion swaps the model that answers, limits and answer log included, without a restart; a
request that began before the swap ends on the model it began with."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genre.serving.follow import PROJECT_ENV
from genre.serving.production import Registry, Release, _save
from genre.settings import load_settings


def point_at(root: Path, model: str) -> None:
    release = Release(model=model, bento="unused", by="hand", reason="test", at="now", previous=None)
    _save(root, Registry(current=release, history=[release]))


@pytest.fixture
def service(model_tag, client, tmp_path, monkeypatch) -> Iterator[Any]:
    """A service instance started for the project ``tmp_path``, whose production is the session's model."""
    from genre.serving.service import RecourseService

    monkeypatch.setenv(PROJECT_ENV, str(tmp_path))
    point_at(tmp_path, model_tag)
    started = RecourseService()  # in-process it loads the store's newest model, whichever test saved it
    assert started.follower is not None
    started.follower.check()  # and follows production to the session's model
    yield started
    if started.follower is not None:
        started.follower.stop()


@pytest.fixture
def newer_model(service, trained: Path, limits) -> Iterator[str]:
    """A second version of the model, with other limits, saved after ``service`` started; taken out
    of the store again afterwards, so every other test's ``latest`` is still the session's model."""
    import bentoml

    from genre.stages.package import save_model

    other = limits.model_copy(
        update={"max_batch": 2, "answer_log": "answers-of-the-newer-model", "probability_decimals": 2}
    )
    tag = str(save_model(load_settings(trained / "params.yaml", serve=other.model_dump())).tag)
    yield tag
    bentoml.models.delete(tag)


def test_a_promotion_reaches_a_running_service_without_a_restart(
    service, model_tag, newer_model, denied, tmp_path
) -> None:
    from genre.serving.service import BatchRequest, RecourseRequest

    assert service.follower is not None and service.model_version == model_tag
    service.follower.check()  # production is what it answers with: nothing moves
    assert service.model_version == model_tag
    point_at(tmp_path, newer_model)

    async def one_before_and_one_after() -> tuple[str, str]:
        before = asyncio.create_task(service.recourse(RecourseRequest(applicant=denied[0])))
        await asyncio.sleep(0)  # under way, waiting in its coalescing window
        service.follower.check()
        after = await service.recourse(RecourseRequest(applicant=denied[0]))
        return (await before).model_version, after.model_version

    assert asyncio.run(one_before_and_one_after()) == (model_tag, newer_model)
    answered = service.recourse_batch(BatchRequest(applicants=denied[:2]))
    assert answered.model_version == newer_model
    assert service.served.limits.max_batch == 2  # the newer model's limits came with it
    said = [p for a in answered.answers for p in (a.probability_before, a.probability_after) if p is not None]
    assert all(p == round(p, 2) for p in said)  # probabilities rounded as serve.probability_decimals says
    logged = (tmp_path / "answers-of-the-newer-model").glob("answers-*.jsonl")
    assert sum(len(day.read_text().splitlines()) for day in logged) == 3  # relative: in the project
