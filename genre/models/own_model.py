"""The lender's own model as the classifier h: the model that turned the person down is the one a
recourse must flip.

GenRe needs only h's probabilities, never its gradients, so any scikit-learn-compatible estimator
with ``predict_proba`` over the raw feature columns will do (a ``Pipeline`` with its own encoding, a
gradient-boosted model, a logistic regression). Every model in the project works in the scaled
space of ``genre.data.preprocessing``; ``OwnModel`` turns scaled rows back into the raw columns the
estimator was fitted on, by name, before asking it.

The file is read with skops, which rebuilds only types it trusts and never runs pickled code. A
type skops does not trust by default loads only once the user lists it in
``train_classifier.trusted_types``: they vouch for the file, and the message says which types and why.
"""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from genre.data.preprocessing import Preprocessor
from genre.data.schema import same_label
from genre.messages import InputError, one_line

OWN_MODELS_DIR = "models"  # where a user's model file lies: a DVC dependency of train_classifier


def read_model_file(root: Path, relative: Path) -> bytes:
    """The bytes of ``train_classifier.model``, which must lie in ``models/`` so that DVC, which
    watches that folder, reruns the pipeline when the file changes."""
    folder = (root / OWN_MODELS_DIR).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(folder):
        raise InputError(
            f"train_classifier.model: {one_line(str(relative))} is outside {OWN_MODELS_DIR}/; "
            "copy it there (DVC reruns the pipeline when a file in it changes)"
        )
    if not path.is_file():
        raise InputError(f"train_classifier.model: no file at {one_line(str(relative))}")
    return path.read_bytes()


class OwnModel:
    """A fitted estimator, read from skops bytes, scoring scaled rows.

    ``trusted`` is the list of types the user vouched for (saved with the model, so the bundle
    loads it the same way); ``reachable`` is what ``recourse.threshold: auto`` resolves from for
    this model, as for the MLP; ``categorical`` says the estimator takes its categorical columns as
    pandas categoricals rather than strings (``check_scores`` finds out which, once, on the
    training rows)."""

    # A scikit-learn pipeline validates and encodes its frame on every call, a cost per call far above
    # its cost per row, so a request is one call (two where its cheapest candidates do not settle it),
    # not three.
    score_in_one_call = True

    def __init__(
        self,
        payload: bytes,
        pre: Preprocessor,
        trusted: list[str],
        reachable: float | None = None,
        categorical: bool = False,
    ) -> None:
        self.payload, self.pre, self.trusted, self.reachable, self.categorical = (
            payload,
            pre,
            list(trusted),
            reachable,
            categorical,
        )
        self.estimator = _load_estimator(payload, self.trusted)
        self.positive = _positive_column(self.estimator, pre)
        self.columns = _columns(self.estimator, pre)
        self.categories = {
            name: pre.schema.features[name].categories
            for name in self.columns
            if pre.schema.features[name].kind == "categorical"
        }

    @cached_property
    def threads(self) -> ThreadpoolController:
        """One thread for the estimator's OpenMP and BLAS pools while it scores: a request's few
        hundred candidates are too few to share out, and on a busy machine threads that wait for
        each other cost many times the work (the MLP trains on one thread for the same reason)."""
        return ThreadpoolController()

    def __getstate__(self) -> dict[str, Any]:
        """All but the thread controller, which holds handles of the libraries loaded here (ctypes,
        not picklable) and is built again where the model lands: a Dask worker answering a chunk
        (``runner: dask``) gets the model pickled, from this process, never from the user's file."""
        return {k: v for k, v in self.__dict__.items() if k != "threads"}

    @property
    def config(self) -> dict[str, Any]:
        return {"trusted": self.trusted, "reachable": self.reachable, "categorical": self.categorical}

    def raw(self, x: np.ndarray) -> Any:
        """Scaled rows [n, d] as the raw frame the estimator was fitted on (its column order), the
        categorical columns as strings or, for a model fitted on pandas categoricals (LightGBM
        refuses anything else), as categoricals of the schema's categories."""
        frame = self.pre.inverse_transform(x)[self.columns]
        if self.categorical:
            for name, categories in self.categories.items():
                frame[name] = pd.Categorical(frame[name], categories=categories)
        return frame

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(favourable | x) for scaled rows; any leading shape."""
        x = np.asarray(x)
        flat = x.reshape(-1, x.shape[-1])
        if not len(flat):
            return np.zeros(x.shape[:-1])
        with self.threads.limit(limits=1):
            prob = self.estimator.predict_proba(self.raw(flat))[:, self.positive]
        return np.asarray(prob, dtype=np.float64).reshape(x.shape[:-1])

    def distributions(self) -> dict[str, str]:
        """The installed distributions (name: version) behind the types the user vouched for, the
        ones skops does not trust by default (LightGBM's, say): whoever serves the model must
        install them, so the package stage adds them to the bento's Python packages."""
        from importlib import metadata

        providers = metadata.packages_distributions()
        modules = {name.split(".")[0] for name in self.trusted} - set(sys.stdlib_module_names)
        return {dist: metadata.version(dist) for module in sorted(modules) for dist in providers.get(module, [])}

    def scorer(self) -> OwnModel:
        """Its answers do not depend on the batch, so it scores answers itself (see RecourseEngine)."""
        return self


def _load_estimator(payload: bytes, trusted: list[str]) -> Any:
    import skops.io  # only a project that brings its own model pays for importing it

    try:
        untrusted = skops.io.get_untrusted_types(data=payload)
    except Exception as exc:  # noqa: BLE001 -- skops raises zipfile/JSON errors of every kind for a file that is not its own
        raise InputError(
            f"train_classifier.model: not a skops file ({one_line(str(exc))}); save the model with skops.io.dump"
        ) from None
    unvouched = [t for t in untrusted if t not in trusted]
    if unvouched:
        raise InputError(
            f"train_classifier.model: the file holds types skops does not trust by default: {', '.join(unvouched)}; "
            "if you made the file or trust its source, list them under train_classifier.trusted_types "
            "(skops.io.get_untrusted_types explains each)"
        )
    return skops.io.loads(payload, trusted=trusted or None)


def _positive_column(estimator: Any, pre: Preprocessor) -> int:
    """Which column of ``predict_proba`` is the favourable label of the schema's target."""
    if not callable(getattr(estimator, "predict_proba", None)) or not hasattr(estimator, "classes_"):
        raise InputError(
            f"train_classifier.model: a fitted estimator with predict_proba is needed, got {type(estimator).__name__}"
        )
    classes = np.asarray(estimator.classes_).tolist()
    target = pre.schema.target
    matches = [i for i, c in enumerate(classes) if same_label(c, target.favourable)]
    if len(classes) != 2 or not matches:
        raise InputError(
            f"train_classifier.model: the model's classes are {one_line(str(classes))}; it must have two, one of them "
            f"the schema's favourable label {target.favourable!r} of '{one_line(target.name)}', written the same way"
        )
    return matches[0]


def _columns(estimator: Any, pre: Preprocessor) -> list[str]:
    """The raw columns the estimator takes, by name: a model fitted on an unnamed array could take
    the schema's columns in any order, and a wrong order fails silently."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise InputError(
            "train_classifier.model: the model was fitted without column names; "
            "fit it on a DataFrame with the schema's feature names"
        )
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in pre.schema.features]
    if unknown:
        raise InputError(
            "train_classifier.model: the model takes columns the schema has no feature for: "
            f"{one_line(', '.join(unknown))}"
        )
    return names


def check_scores(model: OwnModel, x: np.ndarray, name: str) -> None:
    """The model must score the training rows ``x`` (scaled), so that one which cannot score this
    data stops when it is read, in one line, not in a request. Categorical columns go as strings
    first; if the model refuses them it is tried, and from then on asked, with pandas categoricals
    (``model.categorical``), the one other form an estimator fitted on a DataFrame takes them in."""
    as_strings = _fails(model, x)
    if as_strings is None:
        return
    model.categorical = True
    as_categoricals = _fails(model, x)
    if as_categoricals is None:
        return
    model.categorical = False
    raise InputError(
        f"train_classifier.model: {one_line(name)} cannot score the training rows: {as_strings} "
        f"(with pandas categoricals: {as_categoricals})"
    )


def check_every_category(model: OwnModel, base: np.ndarray) -> None:
    """Every category the schema allows, in a column the model takes, must be one it can score: a
    pipeline whose encoder never saw one (``OrdinalEncoder``'s default is to raise) would
    otherwise fail on the first candidate or applicant holding it, mid-run or as an HTTP 500.
    ``base`` is a scaled row the model scores (a training row): one probe per (feature,
    category) is that row with the one value changed, all in one call; only if that call fails is
    each probe tried alone, to name what the model cannot score."""
    pre = model.pre
    raw = pre.inverse_transform(np.asarray(base)[None])  # the base row in raw units: probes go through the preprocessor
    named = [
        (name, value)
        for name, spec in pre.schema.features.items()
        if spec.kind == "categorical" and name in model.columns
        for value in spec.categories or []
    ]
    if not named:
        return
    probes = pre.transform(pd.concat([raw.assign(**{name: value}) for name, value in named], ignore_index=True))
    if _fails(model, probes) is None:
        return
    failing = [
        (pair, problem)
        for pair, row in zip(named, probes, strict=True)
        if (problem := _fails(model, row[None])) is not None
    ]
    if not failing:
        return  # only the probes together failed: nothing a category can be blamed for
    which = ", ".join(f"{name} = {value!r}" for (name, value), _ in failing[:5]) + (
        f" and {len(failing) - 5} more" if len(failing) > 5 else ""
    )
    raise InputError(
        f"train_classifier.model: the model cannot score {which}, which the schema allows ({failing[0][1]}); "
        "refit it on data holding every category (or with its encoder's handle_unknown set), or take the category "
        "out of the schema"
    )


def _fails(model: OwnModel, x: np.ndarray) -> str | None:
    """What goes wrong when the model scores ``x`` (scaled rows), in one line; None if nothing does."""
    try:
        model.predict_proba(x)
    except Exception as exc:  # noqa: BLE001 -- the user's estimator may raise anything; it is reported, not hidden
        return one_line(f"{type(exc).__name__}: {exc}", 300)
    return None
