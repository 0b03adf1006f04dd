"""Synthesised supervision pairs: the empirical pairing distribution Q(x+ | x-).

Sources are rows h does not confidently accept; targets are rows h confidently accepts and the
world labels favourable. Each source keeps its K cheapest *admissible* targets (same immutable
values, moves only in allowed directions) weighted by exp(-lam * cost). A source is compared only
with the targets of its own immutable group, and a chunk of sources at a time, so memory is
O(chunk x targets), never O(N^2), and the work shrinks with every immutable feature.

Q itself is S x K pairs (gigabytes at a million sources and K = 1,000), so it is written a piece at a
time as it is computed and read back a block at a time (``StoredRows``): no stage holds it whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genre.artifacts.atomic import write_npz
from genre.data.preprocessing import Preprocessor
from genre.parallel import Mapper, serial
from genre.recourse.neighbours import approximate_top_k, exact_top_k
from genre.settings import ApproximateSettings

_SAMPLE_BLOCK = 8192  # stored rows read (and sources drawn for) at once: 8192 x K weights and neighbours
_CUMULATIVE_CACHE = 1 << 25  # weights whose cumulative (float64) and neighbours are kept between draws
_NEIGHBOURS, _WEIGHTS, _INDEX = "neighbours.int32", "weights.float16", "index.npz"
# raw little-endian, whatever the machine
_ON_DISK: dict[str, np.dtype[Any]] = {_NEIGHBOURS: np.dtype("<i4"), _WEIGHTS: np.dtype("<f2")}


@dataclass(frozen=True)
class StoredRows:
    """Q's rows back to back, each only as long as its weights last in float16 (nearest first, so a
    row's weights only fall along it): stored row r is ``neighbours[offsets[r]:offsets[r + 1]]``
    with ``weights`` alike. Held in memory, or in two raw little-endian files that are read a block
    of rows at a time: an epoch's draws read them once, in order, and never hold them all."""

    offsets: np.ndarray  # [R + 1] int64
    neighbours: np.ndarray | Path  # [offsets[-1]] int32 target indices, or the file holding them
    weights: np.ndarray | Path  # [offsets[-1]] float16

    def read(self, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The flat neighbours and weights of stored rows first..stop-1."""
        lo, hi = int(self.offsets[first]), int(self.offsets[stop])
        return _flat(self.neighbours, lo, hi).astype(np.int32, copy=False), _flat(self.weights, lo, hi).astype(
            np.float16, copy=False
        )


def _flat(held: np.ndarray | Path, lo: int, hi: int) -> np.ndarray:
    if isinstance(held, np.ndarray):
        return held[lo:hi]
    # an explicit read, not a memory map: mapped pages would count in the process's memory
    dtype = _ON_DISK[held.name]
    return np.fromfile(held, dtype=dtype, count=hi - lo, offset=lo * dtype.itemsize)


class RowWriter:
    """Takes pieces of Q's rows in the order they are computed and stores each row up to its last
    nonzero weight: in memory, or appended to the files in ``folder`` (pair synthesis at scale,
    where Q does not fit in memory). Rows are numbered in the order they arrive."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.lengths: list[np.ndarray] = []
        self._held: list[tuple[np.ndarray, np.ndarray]] = []
        if folder is not None:
            (folder / _NEIGHBOURS).write_bytes(b"")
            (folder / _WEIGHTS).write_bytes(b"")

    @property
    def rows(self) -> int:
        return sum(len(lengths) for lengths in self.lengths)

    def add(self, neighbours: np.ndarray, weights: np.ndarray) -> None:
        """[n, k] neighbours and their weights, nearest first (weight 0: none there)."""
        slot = np.arange(1, weights.shape[1] + 1, dtype=np.int32)
        lengths = np.where(weights > 0, slot, 0).max(axis=1, initial=0)  # one past the last nonzero weight
        keep = slot <= lengths[:, None]
        flat: tuple[np.ndarray, np.ndarray] = (
            np.asarray(neighbours[keep], dtype=np.int32),
            np.asarray(weights[keep], dtype=np.float16),
        )
        self.lengths.append(lengths.astype(np.int64))
        if self.folder is None:
            self._held.append(flat)
            return
        for name, values in zip((_NEIGHBOURS, _WEIGHTS), flat):
            with (self.folder / name).open("ab") as out:
                out.write(values.astype(_ON_DISK[name], copy=False).tobytes())

    def stored(self) -> StoredRows:
        offsets = np.concatenate([[0], np.cumsum(np.concatenate([np.zeros(0, np.int64), *self.lengths]))]).astype(
            np.int64
        )
        if self.folder is not None:
            return StoredRows(offsets, self.folder / _NEIGHBOURS, self.folder / _WEIGHTS)
        neighbours = np.concatenate([np.zeros(0, np.int32), *(n for n, _ in self._held)])
        return StoredRows(offsets, neighbours, np.concatenate([np.zeros(0, np.float16), *(w for _, w in self._held)]))


@dataclass(frozen=True)
class PairingDistribution:
    """Q(. | source r) for each source r: the stored row ``rows[r]`` (neighbours: target indices,
    weights summing to 1 to float16 rounding); a source with no admissible target has an empty row
    and nearest cost inf. Narrowing it to some sources (``restrict``) copies no weights."""

    stored: StoredRows
    rows: np.ndarray  # [S] int64 stored row of each source
    nearest_cost: np.ndarray  # [S] cost of the cheapest admissible target (inf if none)

    @property
    def has_target(self) -> np.ndarray:
        return np.isfinite(self.nearest_cost)

    @property
    def lengths(self) -> np.ndarray:
        """[S] how many neighbours each source's row keeps (0: none)."""
        return np.diff(self.stored.offsets)[self.rows]

    def restrict(self, rows: np.ndarray) -> PairingDistribution:
        return PairingDistribution(self.stored, self.rows[rows], self.nearest_cost[rows])

    def blocks(self, sources: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(positions in ``sources``, their [n, w] neighbours, their [n, w] weights, zero-padded to
        the longest row among them) for every source in ``sources`` (default: all), a block of
        stored rows at a time, read in stored order."""
        wanted = np.arange(len(self.rows)) if sources is None else np.asarray(sources)
        stored = self.rows[wanted]
        order = np.argsort(stored, kind="stable")
        cuts = np.flatnonzero(np.diff(stored[order] // _SAMPLE_BLOCK)) + 1
        for positions in np.split(order, cuts) if len(order) else []:
            first, last = int(stored[positions[0]]), int(stored[positions[-1]])
            neighbours, weights = self.stored.read(first, last + 1)
            starts = self.stored.offsets[stored[positions]] - self.stored.offsets[first]
            lengths = self.stored.offsets[stored[positions] + 1] - self.stored.offsets[stored[positions]]
            columns = np.arange(int(lengths.max(initial=0)))
            inside = columns < lengths[:, None]
            slots = np.where(inside, starts[:, None] + columns, 0)
            if not len(neighbours):  # every row here is empty: nothing to gather
                yield positions, np.zeros(slots.shape, np.int32), np.zeros(slots.shape, np.float16)
                continue
            yield positions, np.where(inside, neighbours[slots], 0), np.where(inside, weights[slots], np.float16(0))

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """Every source's neighbours and weights as [S, w] matrices padded with weight 0 (small Q:
        a request's retrieval, the recall check, tests)."""
        width = int(self.lengths.max(initial=0))
        neighbours, weights = np.zeros((len(self.rows), width), np.int32), np.zeros((len(self.rows), width), np.float16)
        for positions, block_neighbours, block_weights in self.blocks():
            neighbours[positions, : block_neighbours.shape[1]], weights[positions, : block_weights.shape[1]] = (
                block_neighbours,
                block_weights,
            )
        return neighbours, weights

    def _cumulative(self, sources: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, torch.Tensor]]:
        """Per block: positions, neighbours, and each row's cumulative weights, float64, scaled to
        end at 1 (row by row: the same figures whichever rows share a block)."""
        for positions, neighbours, weights in self.blocks(sources):
            cumulative = torch.from_numpy(weights.astype(np.float64)).cumsum(dim=1)
            yield positions, neighbours, cumulative / cumulative[:, -1:]

    @cached_property
    def _kept_cumulative(self) -> list[tuple[np.ndarray, np.ndarray, torch.Tensor]] | None:
        """The sources' cumulative weights, built once where they fit _CUMULATIVE_CACHE (training
        draws again each epoch); None where they do not, and each draw reads them a block at a time."""
        rows = np.flatnonzero(self.has_target)
        return list(self._cumulative(rows)) if int(self.lengths[rows].sum()) <= _CUMULATIVE_CACHE else None

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """Draw ``n`` target indices per source that has a target -> [S_with_target, n]."""
        rows = np.flatnonzero(self.has_target)
        u = torch.from_numpy(rng.random((len(rows), n)))
        out = np.empty((len(rows), n), dtype=np.int32)
        kept = self._kept_cumulative
        for positions, neighbours, cumulative in kept if kept is not None else self._cumulative(rows):
            picks = (
                torch.searchsorted(cumulative, u[torch.from_numpy(positions)], right=True)
                .clamp(max=cumulative.shape[1] - 1)
                .numpy()
            )
            out[positions] = np.take_along_axis(neighbours, picks, axis=1)
        return out

    def effective_neighbours(self) -> np.ndarray:
        """[S with a target] 1 / sum of squared weights: how many neighbours Q really spreads over."""
        rows = np.flatnonzero(self.has_target)
        out = np.empty(len(rows))
        for positions, _, weights in self.blocks(rows):
            out[positions] = 1.0 / np.square(weights.astype(np.float64)).sum(axis=1)
        return out


def split_sources_targets(h_prob: np.ndarray, labels: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of source rows and target rows, as the method defines them."""
    sources = np.flatnonzero(h_prob <= gamma)
    targets = np.flatnonzero((h_prob > gamma) & (labels == 1))
    return sources, targets


def immutable_groups(x_src: np.ndarray, x_tgt: np.ndarray, pre: Preprocessor) -> tuple[np.ndarray, np.ndarray]:
    """Each source's and each target's partition: rows with equal immutable categories share one
    (all rows one, where no category is immutable). A source is admissible only to targets of its own
    partition, so each is searched on its own: the work is the sum of the partitions' sources x
    targets, not all sources x all targets."""
    cols = pre.matched
    if not cols.any():
        return np.zeros(len(x_src), dtype=np.int64), np.zeros(len(x_tgt), dtype=np.int64)
    _, ids = np.unique(np.concatenate([x_src[:, cols], x_tgt[:, cols]]), axis=0, return_inverse=True)
    return ids[: len(x_src)], ids[len(x_src) :]


def weights(costs: np.ndarray, lam: float, chunk_size: int) -> np.ndarray:
    """[S, k] costs (inf: no target there) -> Q's weights, exp(-lam * cost) over each row, as
    float16 (a weight is a sampling chance: three digits are plenty, at half the memory)."""
    probs = np.zeros(costs.shape, dtype=np.float16)
    for start in range(
        0, len(costs), chunk_size
    ):  # in chunks: float64 weights of every pair at once would take 8x the memory
        values = torch.from_numpy(costs[start : start + chunk_size]).double()
        chunk = torch.softmax(-lam * values, dim=1)
        probs[start : start + len(values)] = (
            torch.nan_to_num(torch.where(torch.isinf(values), 0.0, chunk), nan=0.0).float().numpy()
        )
    return probs


def group_pairs(
    x_src: np.ndarray,
    x_tgt: np.ndarray,
    pre: Preprocessor,
    lam: float,
    k: int,
    chunk_size: int,
    approximate: ApproximateSettings | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One piece of ``pairing_distribution``: sources of one immutable group against its targets,
    exactly, or with ``approximate`` where the group holds more targets than a source would ask
    the index for -> (neighbours, weights, nearest cost). The costs stay inside the piece."""
    if approximate is not None and len(x_tgt) > approximate.oversample * k:
        costs, index = approximate_top_k(x_src, x_tgt, pre, k, chunk_size, approximate)
    else:
        costs, index = exact_top_k(x_src, x_tgt, pre, k, chunk_size)
    return index, weights(costs, lam, chunk_size), costs[:, 0].astype(np.float64)


def pairing_distribution(
    x_src: np.ndarray,
    x_tgt: np.ndarray,
    pre: Preprocessor,
    lam: float,
    k: int,
    chunk_size: int,
    approximate: ApproximateSettings | None = None,
    mapper: Mapper = serial,
    parts: int = 1,
    piece_rows: int | None = None,
    folder: Path | None = None,
) -> PairingDistribution:
    """Q for every source over its ``k`` cheapest admissible targets, weighted exp(-lam * cost);
    a source with none has no neighbours and nearest cost inf.

    Sources are searched within their immutable partition (``immutable_groups``), each partition's
    sources split in at least ``parts`` pieces of at most ``piece_rows`` sources, handed to
    ``mapper`` (``genre.parallel``); each piece is computed as it would be alone, so Q is the same
    however the work is spread. Each piece's rows are stored as it arrives, to ``folder`` where
    given (``RowWriter``): memory holds the pieces in flight, not Q."""
    x_src, x_tgt = np.asarray(x_src, np.float32), np.asarray(x_tgt, np.float32)
    k = min(k, len(x_tgt))
    rows, nearest = np.full(len(x_src), -1, dtype=np.int64), np.full(len(x_src), np.inf)
    if (
        len(x_src) <= chunk_size
    ):  # one chunk scans the targets once anyway (a request's retrieval): grouping would only add work
        src_group, tgt_group = np.zeros(len(x_src), dtype=np.int64), np.zeros(len(x_tgt), dtype=np.int64)
    else:
        src_group, tgt_group = immutable_groups(x_src, x_tgt, pre)
    pieces = []  # (source rows, candidate targets, k kept)
    for group in np.unique(src_group) if k else []:
        members, candidates = np.flatnonzero(src_group == group), np.flatnonzero(tgt_group == group)
        if len(candidates):  # else no target keeps these immutable values: these sources have none
            count = max(parts, -(-len(members) // piece_rows) if piece_rows else 1)
            pieces += [
                (part, candidates, min(k, len(candidates)))
                for part in np.array_split(members, min(count, len(members)))
            ]
    calls = (
        {
            "x_src": x_src[part],
            "x_tgt": x_tgt[candidates],
            "pre": pre,
            "lam": lam,
            "k": kept,
            "chunk_size": chunk_size,
            "approximate": approximate,
        }
        for part, candidates, kept in pieces
    )
    writer = RowWriter(folder)
    for (part, candidates, _), (index, weight, cheapest) in zip(pieces, mapper(group_pairs, calls), strict=True):
        rows[part], nearest[part] = writer.rows + np.arange(len(part)), cheapest
        writer.add(candidates[index], weight)
    if (rows < 0).any():  # sources no piece searched share one empty row
        rows[rows < 0] = writer.rows
        writer.add(np.zeros((1, 0), np.int32), np.zeros((1, 0), np.float16))
    return PairingDistribution(writer.stored(), rows, nearest)


def recall(approximate: PairingDistribution, exact: PairingDistribution) -> dict[str, float]:
    """How much of the exact Q an approximate one (the same sources) holds: the share of the exact
    top-k targets it found, and the share of the exact Q's probability mass on them."""
    hits = mass = 0.0
    (found_neighbours, found_weights), (exact_neighbours, exact_weights) = approximate.dense(), exact.dense()
    for row in np.flatnonzero(exact.has_target):
        wanted = exact_weights[row] > 0
        found = np.isin(exact_neighbours[row], found_neighbours[row][found_weights[row] > 0]) & wanted
        hits += found.sum() / wanted.sum()
        mass += exact_weights[row][found].sum(dtype=np.float64)
    rows = max(int(exact.has_target.sum()), 1)
    return {"top_k": float(hits / rows), "mass": float(mass / rows)}


def save_pairs(folder: Path, sources: np.ndarray, targets: np.ndarray, q: PairingDistribution) -> None:
    """The pairs artifact, a folder: ``index.npz`` (source and target row indices of the training
    split, each source's stored row and nearest cost, the rows' offsets) beside the two flat files
    of ``StoredRows``, which ``pairing_distribution(folder=folder)`` wrote as it computed Q."""
    if not isinstance(q.stored.neighbours, Path) or q.stored.neighbours != folder / _NEIGHBOURS:
        raise ValueError(
            f"save_pairs: Q's rows are not in {folder}: compute it with pairing_distribution(..., folder={folder})"
        )
    arrays = {
        "sources": sources,
        "targets": targets,
        "rows": q.rows,
        "nearest_cost": q.nearest_cost,
        "offsets": q.stored.offsets,
    }
    write_npz(folder / _INDEX, **arrays)


def load_pairs(folder: Path) -> tuple[np.ndarray, np.ndarray, PairingDistribution]:
    """Source and target row indices of the training split, and Q over targets, its weights left
    on disk and read a block at a time."""
    with np.load(folder / _INDEX) as s:
        q = PairingDistribution(
            StoredRows(s["offsets"], folder / _NEIGHBOURS, folder / _WEIGHTS), s["rows"], s["nearest_cost"]
        )
        return s["sources"], s["targets"], q
