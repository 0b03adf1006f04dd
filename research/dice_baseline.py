"""DiCE (``dice-ml``), the counterfactual tool practitioners reach for today, as a baseline.

DiCE works on raw-unit DataFrames, so the classifier is wrapped as a scikit-learn-like object whose
``predict_proba`` takes raw rows, scales them with the pipeline's Preprocessor and calls the MLP.

DiCE is asked to flip h at the acceptance threshold t, not at 0.5: the wrapper reports
odds-shifted probabilities, P'(y+) = sigmoid(logit h(x) - logit t), so DiCE's own "P'(y+) >= 0.5"
means h(x) >= t. Passing t as DiCE's ``stopping_threshold`` instead is not enough: the genetic
method optimises a hinge loss that is already zero at h = 0.5, so at t = 0.9 it returned nothing.

Each factual is one DiCE query (DiCE searches per request): the features it may vary are the
mutable ones (minus any per-request frozen ones), and its permitted range is the schema's bounds
cut to the training range the scaled space covers, narrowed per query to [x, max] for
increase-only and [min, x] for decrease-only features. DiCE returns ``total_cfs``
counterfactuals; each is mapped back to the scaled space, made actionable
(``genre.recourse.engine.make_actionable``, normally a no-op here) and the cheapest one h accepts above
the threshold is returned. A factual with none keeps x_plus = x and found False, as NNR does;
so does a query that runs past ``query_seconds`` (dice-ml's genetic start can loop forever when
valid random points are rare, interpretml/DiCE#226), its time counted in DiCE's seconds.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import signal
import threading
import time
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd

from genre.data.preprocessing import Preprocessor
from genre.models.classifiers import MLPClassifier
from genre.recourse.cost import recourse_cost
from genre.recourse.engine import make_actionable
from genre.settings import DiceSettings


class RawProbabilityModel:
    """What DiCE's ``sklearn`` backend calls: raw-unit DataFrame in, [n, 2] probabilities out.

    Column 1 is the favourable class, its odds divided by threshold / (1 - threshold), so that it
    crosses 0.5 exactly where h crosses ``threshold``.
    """

    def __init__(self, pre: Preprocessor, classifier: MLPClassifier, threshold: float = 0.5) -> None:
        self.pre, self.classifier, self.threshold = pre, classifier, threshold
        self.classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.classifier.predict_proba(self.pre.transform(pd.DataFrame(frame)[self.pre.schema.feature_names]))
        t = self.threshold
        shifted = p * (1 - t) / (p * (1 - t) + (1 - p) * t)
        return np.column_stack([1.0 - shifted, shifted])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(frame)[:, 1] > 0.5).astype(np.int64)


def _ranges(pre: Preprocessor) -> dict[str, list[float]]:
    """Per numeric feature: the schema's bounds cut to the training range (scaled [0, 1])."""
    out: dict[str, list[float]] = {}
    for j, (name, spec) in enumerate(pre.schema.features.items()):
        if spec.kind == "categorical":
            continue
        lo, hi = pre.mins[j], pre.mins[j] + pre.ranges[j]
        lo = max(lo, spec.min) if spec.min is not None else lo
        hi = min(hi, spec.max) if spec.max is not None else hi
        out[name] = [float(lo), float(max(lo, hi))]
    return out


def _query_range(
    pre: Preprocessor, base: dict[str, list[float]], row: pd.Series, vary: list[str]
) -> dict[str, list[float]]:
    """Permitted range for one query: directions narrow it to the allowed side of the factual."""
    out: dict[str, list[float]] = {}
    for j, name in enumerate(pre.schema.feature_names):
        if name not in base or name not in vary:
            continue
        lo, hi = base[name]
        value = float(row[name])
        if pre.direction[j] > 0:
            lo = min(max(lo, value), hi)
        elif pre.direction[j] < 0:
            hi = max(min(hi, value), lo)
        out[name] = [lo, hi]
    return out


def build_explainer(pre: Preprocessor, classifier: MLPClassifier, train_raw: pd.DataFrame, settings: DiceSettings):
    import dice_ml

    schema = pre.schema
    numeric = [n for n, s in schema.features.items() if s.kind != "categorical"]
    frame = train_raw[schema.columns].copy()
    for name, spec in schema.features.items():
        if spec.kind == "categorical":
            frame[name] = frame[name].astype(str)
    data = dice_ml.Data(dataframe=frame, continuous_features=numeric, outcome_name=schema.target.name)
    model = dice_ml.Model(model=RawProbabilityModel(pre, classifier, settings.threshold), backend="sklearn")
    return dice_ml.Dice(data, model, method=settings.method)


def dice_recourse(
    x: np.ndarray,
    pre: Preprocessor,
    classifier: MLPClassifier,
    train_raw: pd.DataFrame,
    settings: DiceSettings | None = None,
    frozen: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """[N, d] scaled factuals -> (x_plus [N, d] scaled, found [N], seconds)."""
    cfg = settings or DiceSettings()
    started = time.perf_counter()
    x = np.asarray(x, dtype=np.float32)
    keep = pre.immutable if frozen is None else (pre.immutable | np.asarray(frozen, dtype=bool))
    vary = [name for name, fixed in zip(pre.schema.feature_names, keep) if not fixed]
    explainer = build_explainer(pre, classifier, train_raw, cfg)
    base = _ranges(pre)
    queries = pre.inverse_transform(x)
    x_plus = x.copy()
    found = np.zeros(len(x), dtype=bool)
    if not vary:
        return x_plus, found, time.perf_counter() - started

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        for i in range(len(x)):
            query = queries.iloc[[i]].reset_index(drop=True)
            kwargs: dict[str, object] = {
                "total_CFs": cfg.total_cfs,
                "desired_class": 1,
                "features_to_vary": vary,
                "permitted_range": _query_range(pre, base, query.iloc[0], vary) or None,
                "stopping_threshold": 0.5,  # on the shifted probabilities: h(x) >= threshold
                "posthoc_sparsity_algorithm": cfg.posthoc_sparsity,
                "verbose": False,
            }
            if cfg.method == "random":
                kwargs.update(sample_size=cfg.sample_size, random_seed=cfg.seed + i)
            else:
                kwargs.update(maxiterations=cfg.max_iterations)
            np.random.seed(cfg.seed + i)
            random.seed(cfg.seed + i)
            cands = _counterfactuals(explainer, query, kwargs, cfg.query_seconds)
            if cands is None or len(cands) == 0:
                continue
            scaled = make_actionable(pre, x[i : i + 1], pre.transform(cands)[None], frozen)[0]
            prob = classifier.predict_proba(scaled)
            ok = prob > cfg.threshold
            if ok.any():
                costs = np.where(ok, recourse_cost(pre, x[i], scaled), np.inf)
                x_plus[i], found[i] = scaled[int(np.argmin(costs))], True
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return x_plus, found, time.perf_counter() - started


class _QueryTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _QueryTimeout inside the block after ``seconds``. DiCE's loops are plain Python, so
    only a signal can stop them; signals reach the main thread only, elsewhere there is no limit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        # Again in 50 ms until the block ends: a signal that lands in a garbage-collector callback
        # (Hypothesis installs one) has its exception printed and dropped, and the query runs on.
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        raise _QueryTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _counterfactuals(explainer, query: pd.DataFrame, kwargs: dict[str, object], seconds: float) -> pd.DataFrame | None:
    """One DiCE query -> its counterfactuals in raw units (None if it found none in ``seconds``);
    its prints and progress bars are swallowed."""
    from raiutils.exceptions import UserConfigValidationException

    logging.getLogger("dice_ml").setLevel(logging.ERROR)
    started = time.monotonic()
    try:
        with (
            _time_limit(seconds),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            result = explainer.generate_counterfactuals(query, **kwargs)
    except UserConfigValidationException:  # DiCE raises this when no counterfactual was found at all
        return None
    except _QueryTimeout:
        result = None
    # The alarm's exception can land inside a DiCE `except Exception` and be swallowed, letting the
    # query run on to an answer: the budget is judged by the clock, not by the exception.
    if result is None or time.monotonic() - started > seconds:
        logging.getLogger(__name__).warning("a DiCE query ran past %.0f s and counts as not found", seconds)
        return None
    example = result.cf_examples_list[0]
    frame = example.final_cfs_df_sparse if example.final_cfs_df_sparse is not None else example.final_cfs_df
    return None if frame is None else frame
