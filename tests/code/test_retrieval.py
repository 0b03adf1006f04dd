"""Reachable rows: accepted training rows moved within an applicant's reach, the least moved first."""

from __future__ import annotations

import numpy as np
import pytest

from genre.data.preprocessing import Preprocessor
from genre.models.accepted import AcceptedRows
from genre.recourse.cost import changed, recourse_cost
from genre.recourse.engine import make_actionable
from genre.recourse.retrieval import MOVED_WEIGHT, nearest_reachable


def reachable(pre: Preprocessor, x: np.ndarray, pool: np.ndarray, k: int, cells: int = 4_000_000):
    return nearest_reachable(x, pool, pre, k, lambda f, moved: make_actionable(pre, f, moved), cells)


def test_reachable_rows_keep_every_constraint_and_come_least_moved_first(pre: Preprocessor, tiny_rows) -> None:
    x, pool = pre.transform(tiny_rows(20, 0)), pre.transform(tiny_rows(200, 1))
    out, valid = reachable(pre, x, pool, 15)
    assert valid.any(axis=1).all()
    np.testing.assert_array_equal(out, make_actionable(pre, x, out))  # already within reach: nothing to clamp
    assert not (out[..., 2] != x[:, None, 2])[valid].any()  # sex, immutable
    assert (changed(x[:, None, :], out).any(-1) | ~valid).all()  # every valid row moves something
    for i in range(len(x)):
        moved = make_actionable(pre, x[i : i + 1], pool[None])[0]
        key = recourse_cost(pre, x[i : i + 1], moved) + MOVED_WEIGHT * recourse_cost(pre, pool, moved)
        key = np.where(recourse_cost(pre, x[i : i + 1], moved) > 0, key, np.inf)
        distinct = {tuple(p) for p in out[i][valid[i]]}
        assert len(distinct) == valid[i].sum()  # no duplicates
        got = recourse_cost(pre, x[i : i + 1], out[i][valid[i]])
        # in key order, and the best of all the moved pool rows
        keys = [key[(moved == p).all(axis=1)].min() for p in out[i][valid[i]]]
        assert np.all(np.diff(keys) >= -1e-9)
        assert keys[0] == pytest.approx(key.min())
        assert np.all(got > 0)


def test_an_applicants_rows_do_not_depend_on_the_batch(pre: Preprocessor, tiny_rows) -> None:
    x, pool = pre.transform(tiny_rows(30, 2)), pre.transform(tiny_rows(150, 3))
    together = reachable(pre, x, pool, 10)
    in_small_blocks = reachable(pre, x, pool, 10, cells=150 * 4 * 4)  # four applicants a block
    alone = [reachable(pre, x[i : i + 1], pool, 10) for i in range(len(x))]
    for got in (in_small_blocks, (np.concatenate([a[0] for a in alone]), np.concatenate([a[1] for a in alone]))):
        np.testing.assert_array_equal(got[0], together[0])
        np.testing.assert_array_equal(got[1], together[1])


def test_no_pool_or_no_room_leaves_slots_empty(pre: Preprocessor, tiny_rows) -> None:
    x = pre.transform(tiny_rows(3, 4))
    out, valid = reachable(pre, x, np.zeros((0, 4), np.float32), 5)
    assert not valid.any() and (out == x[:, None, :]).all()
    out, valid = reachable(pre, x, x[:1], 5)  # one row: at most one slot per applicant
    assert valid.sum(axis=1).max() <= 1


def test_favourable_rows_travel_with_the_accepted_ones_and_old_files_still_load(
    tmp_path, pre: Preprocessor, tiny_rows
) -> None:
    x = pre.transform(tiny_rows(40, 5))
    h = np.linspace(0, 1, 40)
    labels = (np.arange(40) % 3 == 0).astype(int)
    saved = AcceptedRows.of(x, h, 0.5, labels)
    saved.save(tmp_path / "accepted.npz")
    loaded = AcceptedRows.load(tmp_path / "accepted.npz")
    np.testing.assert_array_equal(loaded.people_like, x[labels == 1])
    np.testing.assert_array_equal(loaded.x, x[h > 0.5])
    AcceptedRows(saved.x, saved.h).save(tmp_path / "old.npz")  # a bundle from before they travelled
    np.testing.assert_array_equal(AcceptedRows.load(tmp_path / "old.npz").people_like, saved.x)
