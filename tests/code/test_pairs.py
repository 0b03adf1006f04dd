"""Pairs against a brute-force computation of Q on tiny data, admissibility, and sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema
from genre.recourse import neighbours, pairs
from genre.recourse.cost import pairwise_recourse_cost
from genre.recourse.neighbours import cost_embedding
from genre.recourse.pairs import immutable_groups, pairing_distribution, recall, split_sources_targets
from genre.settings import ApproximateSettings


def _pre(direction: str | None = None) -> Preprocessor:
    """Two numeric features (one optionally directional), one immutable binary, one 3-way category."""
    schema = DatasetSchema.model_validate(
        {
            "name": "tiny",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "a": {"kind": "continuous", "min": 0, "max": 1, **({"direction": direction} if direction else {})},
                "b": {"kind": "continuous", "min": 0, "max": 1},
                "g": {"kind": "categorical", "categories": ["f", "m"], "immutable": True},
                "c": {"kind": "categorical", "categories": ["x", "y", "z"]},
            },
        }
    )
    return Preprocessor(schema, np.zeros(4), np.array([1.0, 1.0, 1.0, 2.0]))


def _random_points(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([rng.random(n), rng.random(n), rng.integers(0, 2, n), rng.integers(0, 3, n) / 2.0]).astype(
        np.float32
    )


def _brute_force(src: np.ndarray, tgt: np.ndarray, pre: Preprocessor, lam: float, k: int) -> list[dict[int, float]]:
    """Q(. | source) as {target index: probability}, by the definition, one pair at a time."""
    out = []
    for s in src:
        costs = {}
        for j, t in enumerate(tgt):
            if s[2] != t[2]:
                continue
            if pre.direction[0] > 0 and t[0] < s[0]:
                continue
            costs[j] = abs(s[0] - t[0]) + abs(s[1] - t[1]) + float(s[3] != t[3])
        nearest = sorted(costs, key=lambda j: costs[j])[:k]
        weights = {j: np.exp(-lam * costs[j]) for j in nearest}
        total = sum(weights.values())
        out.append({j: w / total for j, w in weights.items()})
    return out


@pytest.mark.parametrize("direction", [None, "increase"])
@pytest.mark.parametrize("k", [3, 50])
def test_matches_brute_force(direction: str | None, k: int) -> None:
    """Chunked top-k with masks must equal the definition, whatever the chunk size."""
    rng = np.random.default_rng(1)
    pre = _pre(direction)
    src, tgt = _random_points(rng, 23), _random_points(rng, 31)
    q = pairing_distribution(src, tgt, pre, lam=5.0, k=k, chunk_size=4)
    expected = _brute_force(src, tgt, pre, lam=5.0, k=k)
    neighbours, probs = q.dense()
    for row, want in enumerate(expected):
        got = {int(j): float(p) for j, p in zip(neighbours[row], probs[row]) if p > 0}
        kept = {
            j: w for j, w in want.items() if np.float16(w) > 0
        }  # Q is held in float16: a weight below its range goes, with its neighbour
        assert q.has_target[row] == bool(want)
        assert set(got) == set(kept)
        for j, w in kept.items():
            assert got[j] == pytest.approx(w, rel=1e-3, abs=1e-7)  # float16 keeps 11 significant bits


def test_pieces_give_the_pairs_of_one_piece() -> None:
    """Each immutable group's sources split in 3 pieces, handed to a mapper one by one (as a Dask
    runner would take them, in any order of completion): the same Q as one piece per group."""
    rng = np.random.default_rng(4)
    pre = _pre("increase")
    src, tgt = _random_points(rng, 90), _random_points(rng, 70)
    handed: list[int] = []

    def mapper(work, calls):
        for call in calls:
            handed.append(len(call["x_src"]))
            yield work(**call)

    one = pairing_distribution(src, tgt, pre, lam=5.0, k=8, chunk_size=16)
    split = pairing_distribution(src, tgt, pre, lam=5.0, k=8, chunk_size=16, mapper=mapper, parts=3)
    assert len(handed) == 6 and sum(handed) == len(src)  # 2 immutable groups x 3 pieces
    for a, b in zip(
        (*one.dense(), one.has_target, one.nearest_cost), (*split.dense(), split.has_target, split.nearest_cost)
    ):
        np.testing.assert_array_equal(a, b)
    capped = pairing_distribution(src, tgt, pre, lam=5.0, k=8, chunk_size=16, piece_rows=10)
    for a, b in zip((*one.dense(), one.nearest_cost), (*capped.dense(), capped.nearest_cost)):
        np.testing.assert_array_equal(a, b)


def test_only_the_neighbours_that_carry_mass_are_kept() -> None:
    """A sharp Q (large lam) puts no float16-representable weight past a source's first
    neighbours: each row is stored only that long, compactly (int32, float16), and every row's
    weights still sum to 1."""
    rng = np.random.default_rng(5)
    pre = _pre()
    src, tgt = _random_points(rng, 40), _random_points(rng, 400)
    q = pairing_distribution(src, tgt, pre, lam=400.0, k=100, chunk_size=16)
    assert q.stored.neighbours.dtype == np.int32 and q.stored.weights.dtype == np.float16
    lengths = q.lengths
    assert 1 <= lengths.min() < lengths.max() < 100 and q.stored.offsets[-1] == lengths.sum()
    assert np.all(q.stored.weights > 0)
    neighbours, probs = q.dense()
    np.testing.assert_allclose(probs.astype(np.float64).sum(axis=1), 1.0, atol=5e-3)
    wide = pairing_distribution(src, tgt, pre, lam=400.0, k=probs.shape[1], chunk_size=16)
    np.testing.assert_array_equal(neighbours, wide.dense()[0])


def test_draws_built_a_block_at_a_time_are_the_kept_ones(monkeypatch, tmp_path) -> None:
    """Where Q's cumulative weights are too many to keep between epochs, each draw reads them a
    few stored rows at a time, from memory or from the pairs folder on disk, and for a narrowed Q
    (training's sources, shuffled): the same draws, from the same generator, as with them kept."""
    rng = np.random.default_rng(6)
    src, tgt = _random_points(rng, 50), _random_points(rng, 60)
    q = pairing_distribution(src, tgt, _pre("increase"), lam=3.0, k=20, chunk_size=16)
    shuffled = np.random.default_rng(1).permutation(50)[:40]
    kept, kept_narrow = q.sample(np.random.default_rng(0), 3), q.restrict(shuffled).sample(np.random.default_rng(0), 3)
    written = pairing_distribution(
        src, tgt, _pre("increase"), lam=3.0, k=20, chunk_size=16, piece_rows=9, folder=tmp_path
    )
    pairs.save_pairs(tmp_path, np.arange(50), np.arange(60), written)
    monkeypatch.setattr(pairs, "_CUMULATIVE_CACHE", 0)
    monkeypatch.setattr(pairs, "_SAMPLE_BLOCK", 7)
    _, _, on_disk = pairs.load_pairs(tmp_path)
    assert isinstance(on_disk.stored.weights, type(tmp_path))  # read from the file, a block at a time
    for fresh in (pairs.PairingDistribution(q.stored, q.rows, q.nearest_cost), on_disk):
        np.testing.assert_array_equal(fresh.sample(np.random.default_rng(0), 3), kept)
        np.testing.assert_array_equal(fresh.restrict(shuffled).sample(np.random.default_rng(0), 3), kept_narrow)
        assert fresh._kept_cumulative is None


def test_source_without_admissible_target_is_flagged_not_nan() -> None:
    pre = _pre()
    src = np.array([[0.2, 0.2, 1.0, 0.0]], dtype=np.float32)
    tgt = np.array([[0.9, 0.9, 0.0, 0.0], [0.1, 0.1, 0.0, 1.0]], dtype=np.float32)  # other group only
    q = pairing_distribution(src, tgt, pre, lam=5.0, k=2, chunk_size=8)
    assert not q.has_target[0]
    probs = q.dense()[1]
    assert np.all(probs[0] == 0) and not np.isnan(probs).any()
    assert q.sample(np.random.default_rng(0)).shape == (0, 1)


def test_sources_of_a_group_no_target_shares_have_none(tmp_path) -> None:
    """Past one chunk sources are grouped: a group with no target at all (or no targets at all)
    leaves its sources without neighbours, on disk as in memory."""
    rng = np.random.default_rng(8)
    pre = _pre()
    src, tgt = _random_points(rng, 30), _random_points(rng, 20)
    tgt[:, 2] = 0.0  # no target in group 1
    for targets, folder in ((tgt, None), (tgt, tmp_path), (tgt[:0], None)):
        q = pairing_distribution(src, targets, pre, lam=5.0, k=5, chunk_size=8, folder=folder)
        assert np.array_equal(q.has_target, (src[:, 2] == 0.0) & (len(targets) > 0))
        assert q.sample(np.random.default_rng(0)).shape == (int(q.has_target.sum()), 1)
        assert np.all(q.dense()[1][~q.has_target] == 0)


def test_sampling_follows_q() -> None:
    """Empirical frequencies of many draws approach Q."""
    rng = np.random.default_rng(2)
    pre = _pre()
    src, tgt = _random_points(rng, 3), _random_points(rng, 12)
    q = pairing_distribution(src, tgt, pre, lam=2.0, k=12, chunk_size=8)
    draws = q.sample(np.random.default_rng(3), n=40_000)
    rows = np.flatnonzero(q.has_target)
    neighbours, probs = q.dense()
    for i, row in enumerate(rows):
        want: dict[int, float] = {}
        for j, p in zip(neighbours[row], probs[row]):  # padding slots (probability 0) may repeat an index
            want[int(j)] = want.get(int(j), 0.0) + float(p)
        for j, p in want.items():
            assert np.mean(draws[i] == j) == pytest.approx(p, abs=0.01)


def test_sources_and_targets_follow_the_definition() -> None:
    h = np.array([0.1, 0.7, 0.71, 0.9, 0.95])
    labels = np.array([1, 1, 1, 0, 1])
    sources, targets = split_sources_targets(h, labels, gamma=0.7)
    assert sources.tolist() == [0, 1]
    assert targets.tolist() == [2, 4]


def test_each_source_is_compared_only_with_targets_of_its_own_immutable_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """The work is the sum over immutable groups of sources x targets, not all of them; Q is the
    definition's (test_matches_brute_force) whatever the groups."""
    rng = np.random.default_rng(4)
    pre = _pre()
    src, tgt = _random_points(rng, 40), _random_points(rng, 60)
    compared = []
    real = neighbours.pairwise_recourse_cost
    monkeypatch.setattr(
        neighbours, "pairwise_recourse_cost", lambda a, b, p: compared.append(len(a) * len(b)) or real(a, b, p)
    )
    q = pairing_distribution(src, tgt, pre, lam=5.0, k=50, chunk_size=7)
    per_group = sum(np.sum(src[:, 2] == g) * np.sum(tgt[:, 2] == g) for g in (0.0, 1.0))
    assert sum(compared) == per_group < len(src) * len(tgt)
    assert np.all(tgt[q.dense()[0][:, 0], 2] == src[:, 2])  # the nearest keeps the immutable value
    src_group, tgt_group = immutable_groups(src, tgt, pre)
    assert len(np.unique(src_group)) == 2 and all(
        set(tgt[tgt_group == g, 2]) == set(src[src_group == g, 2]) for g in np.unique(src_group)
    )


def test_the_cost_embedding_turns_l1_distance_into_the_recourse_cost() -> None:
    """So the approximate index ranks targets by the very cost Q weights them with (a category
    change costs its weight, a continuous move its weighted distance)."""
    rng = np.random.default_rng(5)
    pre = _pre()
    pre.cost_weights = np.array([2.0, 1.0, 1.0, 3.0])  # a dearer feature, a dearer category change
    a, b = _random_points(rng, 30), _random_points(rng, 40)
    embedded = np.abs(cost_embedding(a, pre)[:, None, :] - cost_embedding(b, pre)[None, :, :]).sum(-1)
    np.testing.assert_allclose(
        embedded, pairwise_recourse_cost(torch.from_numpy(a), torch.from_numpy(b), pre).numpy(), atol=1e-5
    )


def test_approximate_pairs_probing_every_list_are_the_exact_pairs() -> None:
    rng = np.random.default_rng(6)
    pre = _pre("increase")
    src, tgt = _random_points(rng, 300), _random_points(rng, 900)
    exact = pairing_distribution(src, tgt, pre, lam=5.0, k=10, chunk_size=64)
    every_list = ApproximateSettings(lists=8, probe=8, oversample=3.0)
    approx = pairing_distribution(src, tgt, pre, lam=5.0, k=10, chunk_size=64, approximate=every_list)
    assert recall(approx, exact) == pytest.approx({"top_k": 1.0, "mass": 1.0})
    np.testing.assert_allclose(approx.nearest_cost, exact.nearest_cost, rtol=1e-5)


@pytest.mark.parametrize("probe", [2, ApproximateSettings().probe])
def test_approximate_pairs_recall_at_least_095_of_the_exact_top_k(probe: int) -> None:
    """The issue's bar on small data: with the default knobs (16 probed of lists sized to hold
    twice a source's ask between them: about 600 per group here) and with only 2 probed (75
    lists), where the search does miss some."""
    rng = np.random.default_rng(7)
    pre = _pre("increase")
    src, tgt = _random_points(rng, 2000), _random_points(rng, 6000)
    exact = pairing_distribution(src, tgt, pre, lam=5.0, k=20, chunk_size=256)
    approx = pairing_distribution(
        src, tgt, pre, lam=5.0, k=20, chunk_size=256, approximate=ApproximateSettings(probe=probe)
    )
    found = recall(approx, exact)
    assert found["top_k"] >= 0.95 and found["mass"] >= 0.95, found
    assert found["top_k"] < 1.0 or probe > 2  # 2 of 75 lists: it did approximate


def test_a_groups_pieces_share_its_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group's sources split in pieces of 25 (as ``runner.chunk_rows`` caps them at scale) search
    the index built for their group's first piece, not one each, and find what one piece finds."""
    import faiss

    rng = np.random.default_rng(7)
    pre = _pre()
    src, tgt = _random_points(rng, 200), _random_points(rng, 600)
    knobs = ApproximateSettings(lists=6, probe=2)
    whole = pairing_distribution(src, tgt, pre, lam=5.0, k=10, chunk_size=64, approximate=knobs)
    built = []
    real = faiss.IndexIVFFlat
    monkeypatch.setattr(faiss, "IndexIVFFlat", lambda *args: built.append(args) or real(*args))
    monkeypatch.setattr(neighbours, "_BUILT", {})
    pieces = pairing_distribution(src, tgt, pre, lam=5.0, k=10, chunk_size=64, approximate=knobs, piece_rows=25)
    assert len(built) == 2  # one per immutable group, for its 4 or so pieces
    for a, b in zip((*whole.dense(), whole.nearest_cost), (*pieces.dense(), pieces.nearest_cost)):
        np.testing.assert_array_equal(a, b)


def test_saving_pairs_held_in_memory_says_where_to_compute_them(tmp_path) -> None:
    """Q computed in memory cannot be saved as the artifact (its rows are not in the folder): one
    line saying how to compute it, not numpy's complaint about comparing an array with a path."""
    rng = np.random.default_rng(0)
    src, tgt = rng.random((6, 4)).astype(np.float32), rng.random((9, 4)).astype(np.float32)
    q = pairing_distribution(src, tgt, _pre(), lam=5.0, k=3, chunk_size=4)
    with pytest.raises(ValueError, match=r"compute it with pairing_distribution\(\.\.\., folder="):
        pairs.save_pairs(tmp_path, np.arange(6), np.arange(9), q)
    on_disk = pairing_distribution(src, tgt, _pre(), lam=5.0, k=3, chunk_size=4, folder=tmp_path)
    pairs.save_pairs(tmp_path, np.arange(6), np.arange(9), on_disk)
    sources, _targets, loaded = pairs.load_pairs(tmp_path)
    assert sources.tolist() == list(range(6)) and loaded.dense()[0].shape == on_disk.dense()[0].shape
