"""What the answers ask people to do, feature by feature: the share of answers that change each
feature, by how much and which way, in the feature's own units. Written by evaluate
(``metrics/actionability.json``) and said in one line at the end of ``dvc repro``, so a lender sees
how far answers move people before anyone is told one; and the figures every method is judged on
for what it asks of people (``answer_summary``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from genre.data.preprocessing import Preprocessor
from genre.recourse.cost import changed


def actionability(pre: Preprocessor, x: np.ndarray, x_plus: np.ndarray, found: np.ndarray) -> dict[str, Any]:
    """What the answers found ask people to do, per feature, in its own units: the share of
    answers that change it, the median and largest change, and how many go up and down."""
    raw, moved_to = pre.inverse_transform(x[found]), pre.inverse_transform(x_plus[found])
    moves = changed(x[found], x_plus[found])
    features = {}
    for j, (name, spec) in enumerate(pre.schema.features.items()):
        rows = moves[:, j]
        entry: dict[str, Any] = {
            "share_changed": float(rows.mean()) if len(rows) else 0.0,
            "answers_changed": int(rows.sum()),
        }
        if spec.kind == "categorical" and not spec.ordered:
            pairs = (raw[name][rows].astype(str) + " -> " + moved_to[name][rows].astype(str)).value_counts()
            entry["most_common"] = pairs.index[0] if len(pairs) else None
        else:
            order = {c: i for i, c in enumerate(spec.categories or [])}
            before, after = (col[rows].map(order) if spec.ordered else col[rows] for col in (raw[name], moved_to[name]))
            delta = (after.astype(float) - before.astype(float)).to_numpy()
            entry |= {
                "median_change": float(np.median(delta)) if len(delta) else 0.0,
                "largest_change": float(delta[np.abs(delta).argmax()]) if len(delta) else 0.0,
                "up": int((delta > 0).sum()),
                "down": int((delta < 0).sum()),
            }
        features[name] = entry
    return {
        "answers": int(found.sum()),
        "features": dict(sorted(features.items(), key=lambda item: -item[1]["share_changed"])),
    }


def most_moved(moved: dict[str, Any], top: int = 3) -> str:
    """One line a lender reads before anyone is told: the features answers move most, and how."""
    parts = []
    for name, f in list(moved["features"].items())[:top]:
        if not f["answers_changed"]:
            break
        how = (
            f", median {f['median_change']:+g}, largest {f['largest_change']:+g}"
            if "median_change" in f
            else f", most often {f['most_common']}"
        )
        parts.append(f"{name} in {f['share_changed']:.0%} of answers{how}")
    return f"evaluate: of {moved['answers']} answers found, the features moved most: " + (
        "; ".join(parts) if parts else "none"
    )


def answer_summary(pre: Preprocessor, x: np.ndarray, x_plus: np.ndarray, found: np.ndarray) -> dict[str, float]:
    """Of the answers ``found``: features changed per answer (median, mean), moves smaller than
    their feature's ``min_change`` (``trivial_changes``, a count), distinct answers over answers
    (``distinct_share``) and the largest share of them that one same answer is (``largest_answer_share``)."""
    found = np.asarray(found, bool)
    given_x, given = np.asarray(x)[found], np.asarray(x_plus)[found]
    counts = changed(given_x, given).sum(axis=1)
    if not len(given):
        return {
            "features_changed_median": 0.0,
            "features_changed_mean": 0.0,
            "trivial_changes": 0,
            "distinct_share": 0.0,
            "largest_answer_share": 0.0,
        }
    _, repeats = np.unique(np.round(np.asarray(given, np.float64), 6), axis=0, return_counts=True)
    return {
        "features_changed_median": float(np.median(counts)),
        "features_changed_mean": float(counts.mean()),
        "trivial_changes": int(pre.trivial(given_x, given).sum()),
        "distinct_share": float(len(repeats) / len(given)),
        "largest_answer_share": float(repeats.max() / len(given)),
    }
