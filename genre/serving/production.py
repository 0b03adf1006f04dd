"""Which model version is production: exactly one at a time, changed only by a promotion.

Every run of the pipeline makes a new model version and bento in BentoML's store; none of them is
production until promoted. The store keeps the versions; the project keeps one pointer file,
``registry/production.json``, that names the production model and the bento that serves it, with
the history of every change (who, when, why, and what it replaced). It is written atomically, so a
run killed while promoting leaves production as it was or as promoted, never half of each. A
pointer file, not GTO's git tags: an unattended retraining machine need not commit or push to
git, and the pointer travels with the project folder that the scheduled runs use.

The first model ever packaged is promoted by the package stage, having passed evaluate's floors;
after that only ``genre production promote`` (by hand, or the retraining gate) and ``genre
production rollback`` change it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel

from genre.artifacts.atomic import write_json
from genre.messages import InputError, one_line
from genre.recourse.incumbent import CHOSEN
from genre.who import who

POINTER = Path("registry/production.json")  # under the project's root
REFERENCE = "reference.csv.gz"  # in a model's folder: a sample of the rows it was trained on (genre.stages.package)
HELD_OUT_AUC = "held_out_auc"  # in a model's metadata: its classifier's AUC on the held-out rows' own labels
By = Literal["first model", "hand", "gate", "rollback"]


class Release(BaseModel):
    """One promotion: the model and bento it made production, and what was production before."""

    model: str
    bento: str
    by: By
    reason: str
    at: str  # local time with its offset
    previous: str | None  # the model before it in the line of promotions (a rollback steps back along it)
    replaced: str | None = None  # the production model it replaced (None: the first; a rollback: the one undone)
    who: str = ""  # user@host that made the change


class Registry(BaseModel):
    current: Release | None = None
    history: list[Release] = []


def load_registry(root: Path) -> Registry:
    path = Path(root) / POINTER
    if not path.is_file():
        return Registry()
    try:
        return Registry.model_validate_json(path.read_text())
    except ValueError as exc:
        raise InputError(
            f"{path}: not a production record this version can read ({one_line(str(exc), 200)}); "
            "restore it from a backup"
        ) from None


def production(root: Path) -> Release | None:
    """The production release, or None before any model was promoted."""
    return load_registry(root).current


def model_path(model_tag: str) -> Path:
    """Where the store keeps this model version's bundle (what the CLI answers from, and a record replays with)."""
    import bentoml  # here, not above: reading the pointer file (genre production show) needs no store
    from bentoml.exceptions import NotFound

    try:
        return Path(bentoml.models.get(model_tag).path)
    except (NotFound, ValueError):
        raise InputError(
            f"the model {one_line(model_tag)} is not in this BentoML store (BENTOML_HOME); "
            "import its bento, or, for production, promote one that is"
        ) from None


def held_out_auc(model_tag: str) -> float | None:
    """The model's classifier AUC on the held-out rows' own labels, as packaged; None for a model
    packaged without it (before it was kept, or whose held-out rows held one class)."""
    import bentoml

    value = bentoml.models.get(model_tag).info.metadata.get(HELD_OUT_AUC)
    return float(value) if isinstance(value, int | float) else None


def choices(model_tag: str) -> dict[str, Any]:
    """What ``model_tag`` answers by where evaluate chose under ``auto`` (its threshold, selection
    rule and plausible-first preference, as packaged): what a retraining run hands to the
    challenger's evaluate (``genre.recourse.incumbent``)."""
    import bentoml

    recourse = cast("dict[str, Any]", bentoml.models.get(model_tag).info.metadata["recourse"])
    return {"model": model_tag, **{name: recourse[name] for name in CHOSEN if name in recourse}}


def served_by(model_tag: str) -> tuple[str, str]:
    """``model_tag`` as the store's full tag (``name:latest`` resolved) and the newest bento built
    for it (the package stage labels each bento with the model it serves)."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        model = str(bentoml.models.get(model_tag).tag)
    except (NotFound, ValueError):
        raise InputError(
            f"no model {one_line(model_tag)!r} in the BentoML store (bentoml models list shows what there is)"
        ) from None
    built = [b for b in bentoml.bentos.list() if b.info.labels.get("model") == model]
    if not built:
        raise InputError(f"no bento in the BentoML store serves {model}; run the package stage for it first")
    return model, str(max(built, key=lambda b: b.info.creation_time).tag)


def promote(root: Path, model_tag: str, by: By, reason: str) -> Release:
    """Make ``model_tag`` (a version in the store, with its bento) production."""
    registry = load_registry(root)
    model, bento = served_by(model_tag)
    if registry.current is not None and registry.current.model == model:
        raise InputError(f"{model} is production already")
    return _recorded(
        root,
        registry,
        Release(
            model=model,
            bento=bento,
            by=by,
            reason=reason,
            at=_now(),
            previous=registry.current.model if registry.current else None,
            replaced=registry.current.model if registry.current else None,
            who=who(),
        ),
    )


def rollback(root: Path, reason: str = "rolled back by hand") -> Release:
    """Production goes back to the model the current one replaced; again, to the one before that."""
    registry = load_registry(root)
    if registry.current is None or registry.current.previous is None:
        raise InputError(
            "nothing to roll back to: "
            + (
                "no model is in production"
                if registry.current is None
                else f"{registry.current.model} was the first in production"
            )
        )
    earlier = [r for r in registry.history if r.model == registry.current.previous]
    if not earlier:
        raise InputError(
            f"registry/production.json names {registry.current.previous} as the previous production model "
            "but has no record of it"
        )
    before = earlier[-1]
    return _recorded(
        root,
        registry,
        Release(
            model=before.model,
            bento=before.bento,
            by="rollback",
            reason=reason,
            at=_now(),
            previous=before.previous,
            replaced=registry.current.model,
            who=who(),
        ),
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _recorded(root: Path, registry: Registry, release: Release) -> Release:
    """``release`` made production, appended to the history."""
    _save(root, Registry(current=release, history=[*registry.history, release]))
    return release


def _save(root: Path, registry: Registry) -> None:
    write_json(Path(root) / POINTER, registry.model_dump(mode="json"))
