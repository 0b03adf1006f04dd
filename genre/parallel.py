"""Where per-chunk work runs: in this process, on a local Dask cluster, or on an existing one.

The heavy work of a stage splits into independent chunks: pair synthesis per immutable group and
part of it, evaluation's recourse sampling and the batch CLI per block of applicants. Each such
piece is handed to a ``Mapper``, which returns the pieces' results in order. ``params.yaml``'s
``runner`` section chooses it, and the code that splits and joins the work is the same whatever it
chooses:

* ``inprocess`` (the default): one piece after another, here;
* ``dask``: a local Dask cluster of ``runner.workers`` processes, started for the call and
  stopped after it, or, with ``runner.address``, the cluster that scheduler runs (its workers
  need this package installed, at the same version).

Inside a flow run (the pipeline's stages), every piece is a Prefect task submitted to Prefect's
task runner for that choice (``prefect-dask``'s ``DaskTaskRunner`` for Dask), so each shows in
the flow's run with its state. Outside one (the ``genre recourse`` CLI) there is no run to
report to, so the pieces go to the same Dask cluster through its own client, or run here.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from genre.settings import RunnerSettings

R = TypeVar("R")


class Mapper(Protocol):
    """``mapper(work, calls)`` yields ``work(**call)`` for each call, in the calls' order."""

    def __call__(self, work: Callable[..., R], calls: Iterable[dict[str, Any]]) -> Iterator[R]: ...


def serial(work: Callable[..., R], calls: Iterable[dict[str, Any]]) -> Iterator[R]:
    """Every piece here, one after another: what a library call does when nobody chose a runner."""
    for call in calls:
        yield work(**call)


def _windowed(
    submit: Callable[[dict[str, Any]], Any], result: Callable[[Any], R], calls: Iterable[dict[str, Any]], in_flight: int
) -> Iterator[R]:
    """Results in order, with at most ``in_flight`` pieces submitted and not yet collected, so a
    stream of pieces (a large CSV's chunks) is never all in memory at once."""
    window: deque[Any] = deque()
    for call in calls:
        window.append(submit(call))
        if len(window) >= in_flight:
            yield result(window.popleft())
    while window:
        yield result(window.popleft())


def _local_cluster_kwargs(cfg: RunnerSettings) -> dict[str, Any]:
    # no dashboard: nothing at run time listens beyond what the user asked for
    return {
        "n_workers": cfg.workers,
        "threads_per_worker": cfg.threads_per_worker,
        "processes": True,
        "dashboard_address": None,
    }


def _in_flow() -> bool:
    """Inside a Prefect flow run. A process that never imported Prefect's context is in none, and
    need not import Prefect to find out (the batch CLI, a library call)."""
    if "prefect.context" not in sys.modules:
        return False
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


@contextmanager
def prefect_tasks(cfg: RunnerSettings, name: str) -> Iterator[Mapper]:
    """A mapper whose pieces are Prefect tasks named ``name`` on the task runner ``cfg`` names."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    if cfg.kind == "dask":
        from prefect_dask import DaskTaskRunner

        runner: Any = (
            DaskTaskRunner(address=cfg.address)
            if cfg.address
            else DaskTaskRunner(cluster_kwargs=_local_cluster_kwargs(cfg))
        )
    else:
        from prefect.task_runners import ThreadPoolTaskRunner

        runner = ThreadPoolTaskRunner(max_workers=1)
    with runner:

        def mapped(work: Callable[..., R], calls: Iterable[dict[str, Any]]) -> Iterator[R]:
            # no cache key: hashing every piece's arrays would cost more than some pieces take
            piece = task(name=name, cache_policy=NO_CACHE, persist_result=False)(work)
            yield from _windowed(
                lambda call: runner.submit(piece, call), lambda future: future.result(), calls, cfg.in_flight
            )

        yield mapped


@contextmanager
def dask_client(cfg: RunnerSettings) -> Iterator[Mapper]:
    """A mapper on the Dask cluster ``cfg`` names, through Dask's own client (no Prefect run)."""
    from distributed import Client, LocalCluster

    cluster = None if cfg.address else LocalCluster(**_local_cluster_kwargs(cfg))
    try:
        with Client(cfg.address or cluster) as client:

            def mapped(work: Callable[..., R], calls: Iterable[dict[str, Any]]) -> Iterator[R]:
                yield from _windowed(
                    lambda call: client.submit(work, pure=False, **call),
                    lambda future: future.result(),
                    calls,
                    cfg.in_flight,
                )

            yield mapped
    finally:
        if cluster is not None:
            cluster.close()


@contextmanager
def chunk_runner(cfg: RunnerSettings, name: str) -> Iterator[Mapper]:
    """The mapper for ``cfg``: Prefect tasks inside a flow run, otherwise Dask's client or here."""
    if _in_flow():
        with prefect_tasks(cfg, name) as mapped:
            yield mapped
    elif cfg.kind == "dask":
        with dask_client(cfg) as mapped:
            yield mapped
    else:
        yield serial
