"""Load benchmark of the recourse service as deployed: single-request latency and throughput, and a
batch of 1,000 applicants over HTTP and through the library call the service wraps.

The bento is built from this checkout's source and the repo's trained model (``data/``, from
``dvc repro``) into a scratch BentoML home, so the figures are for the code as it stands and the
user's own store is not touched; ``bentoml serve`` runs on 127.0.0.1 only and is always stopped.
Every phase is bounded in count and time: the single-request phase sends ``--requests`` requests
from ``--concurrency`` concurrent clients and stops at ``--time-cap`` seconds whatever happens.

    python benchmarks/serve_load.py [--requests 2000] [--concurrency 2] [--time-cap 60] [--own-model]

With ``--own-model`` the same figures follow for a lender's gradient-boosted model
(``research.lender_model``, race and sex left out) trained on the same prepared data through the
pipeline's stages, served from its own bento in the same run, under ``own_model``, with the ratio of
its requests per second to the MLP's under ``own_model_vs_mlp_rps``. Both bentos are served at
once and asked in turn, ``--rounds`` times (the order alternating), and the ratio is the median of
the rounds' ratios: this machine's speed drifts by 20-30% within an hour, and measured one after
the other the MLP's rate on denied applicants came out at 232 and at 179 requests a second in two
runs an hour apart, the ratio at 0.466 and 0.689.

The service runs one worker that answers one request at a time, so beyond about one request in
flight per core more concurrency only queues: throughput stays, and p50 grows with the queue.

Two workloads: the test split's rows as they come (the classifier approves some of them, and
nothing is sampled for an approved applicant) and only the applicants it turns down (the people
who ask for recourse; every one of them costs the full candidate budget).

Prints and writes ``reports/serve_load.json`` (or ``--out``):
``{"single": {"p50_ms", "p99_ms", "rps", "errors", "rps_by_round"}, "batch": {"size", "http_seconds",
"library_seconds", "errors", "denied_share"}, "all_denied": {"single": {...}, "batch": {...,
"library_seconds_by_setting"}}, "setup": {...}}``:
the first two on test rows, ``all_denied`` the same on denied applicants only, with the library
batch also timed at the other sampling settings (float32 and bfloat16, the served number of
candidates and 100).
The client shares the machine with the server, so on a small machine it takes some of the CPU the
server could have used: the figures are a lower bound for a server with the machine to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from research.local_server import build, free_port, serve, stop, wait_until_ready
from research.provenance import stamped

REPO = Path(__file__).resolve().parents[1]
BATCH_SIZE = 1000
BATCH_REPEATS = 7
READY_WITHIN_S = 180


def own_model_project(root: Path) -> Any:
    """This checkout's prepared data and params with a lender's gradient-boosted model
    (``research.lender_model``) in place of the MLP, trained and evaluated through the pipeline's
    stages from train_classifier on (evaluate chooses its selection rule): the same data and
    generator settings, another classifier."""
    import skops.io
    import yaml

    from genre.data.schema import load_schema
    from genre.settings import load_settings
    from genre.stages import evaluate, synthesize_pairs, train_classifier, train_generator
    from research.lender_model import fit_lender_model

    for rel in ("data/prepared", "genre"):
        shutil.copytree(REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "bentofile.yaml", root / "bentofile.yaml")
    model = fit_lender_model(
        pd.read_csv(root / "data/prepared/train.csv"), load_schema(root / "data/prepared/schema.yaml")
    )
    (root / "models").mkdir()
    skops.io.dump(model, root / "models/lender.skops")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train_classifier"].update(
        model="models/lender.skops", trusted_types=skops.io.get_untrusted_types(file=root / "models/lender.skops")
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    settings = load_settings(root / "params.yaml")
    for stage in (train_classifier, synthesize_pairs, train_generator, evaluate):
        stage.run(settings)
    return settings


async def single_requests(
    url: str, applicants: list[dict[str, Any]], n: int, concurrency: int, time_cap: float
) -> dict[str, Any]:
    """``n`` single-applicant requests from ``concurrency`` clients at once, cut off at ``time_cap``
    -> each request's seconds, the errors and the phase's seconds."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        started = time.perf_counter()
        deadline = started + time_cap

        async def worker() -> None:
            nonlocal errors, sent
            while sent < n and time.perf_counter() < deadline:
                body = {"applicant": applicants[sent % len(applicants)]}
                sent += 1
                t0 = time.perf_counter()
                try:
                    response = await http.post("/recourse", json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "seconds": elapsed}


def single_figures(rounds: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """One workload's single-request figures over its rounds: latency percentiles over every
    request, requests per second over all of them, and each round's rate."""
    ms = np.array([t for r in rounds for t in r["latencies"]]) * 1000
    seconds = sum(r["seconds"] for r in rounds)
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "rps": round(len(ms) / seconds, 1),
        "errors": sum(r["errors"] for r in rounds),
        "requests": len(ms),
        "concurrency": concurrency,
        "seconds": round(seconds, 2),
        "rps_by_round": [round(len(r["latencies"]) / r["seconds"], 1) for r in rounds],
    }


def median_seconds(call: Callable[[], bool], repeats: int) -> tuple[float, int]:
    """-> (median wall time of ``repeats`` calls after one warm-up, calls that failed)."""
    call()
    times, errors = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        errors += not call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), errors


WORKLOADS = ("test_rows", "all_denied")


def answers_whole_batch(engine: Any, batch: pd.DataFrame, settings: Any = None) -> bool:
    """One library call on a batch: did every applicant get an answer back?"""
    from genre.serving.answers import answer

    return len(answer(engine, batch, settings=settings)) == len(batch)


def prepared(settings: Any, args: argparse.Namespace) -> dict[str, Any]:
    """One project's model built into a bento in the BentoML home this process uses, and the
    figures that need no server, the library batches, timed while nothing else runs -> the bento's
    tag, the request bodies of each workload, and those figures."""
    from genre.recourse.engine import DECISION_THRESHOLD
    from genre.serving.bundle import load_bundle

    bento_tag, model_tag, model_path = build(settings)
    engine = load_bundle(model_path)
    target = engine.pre.schema.target.name
    frame = pd.read_csv(settings.root / "data/prepared/test.csv").drop(columns=[target])
    denied = frame[
        engine.scorer.predict_proba(engine.pre.transform(frame)) <= DECISION_THRESHOLD
    ]  # as the engine decides
    # Test rows as they come (the classifier approves some: nothing is sampled for them), and
    # only applicants it turns down, the people who ask for recourse: every one is sampled.
    workloads = dict(zip(WORKLOADS, (frame, denied), strict=True))
    library = {
        name: median_seconds(partial(answers_whole_batch, engine, rows.head(BATCH_SIZE)), BATCH_REPEATS)
        for name, rows in workloads.items()
    }
    variants = {}  # what the all-denied batch costs under the other sampling settings, for choosing them
    served = (engine.settings.precision, engine.settings.n_candidates)  # timed above
    for precision, n in itertools.product(("float32", "bfloat16"), sorted({100, engine.settings.n_candidates})):
        if (precision, n) == served:
            continue
        variant = engine.settings.model_copy(update={"precision": precision, "n_candidates": n})
        call = partial(answers_whole_batch, engine, denied.head(BATCH_SIZE), variant)
        variants[f"{precision}, {n} candidates"] = round(median_seconds(call, BATCH_REPEATS)[0], 3)
    return {
        "bento": bento_tag,
        "records": {
            name: json.loads(rows.head(max(args.requests, BATCH_SIZE)).to_json(orient="records"))
            for name, rows in workloads.items()
        },
        "library": library,
        "variants": variants,
        "denied_share": round(float(frame.head(BATCH_SIZE).index.isin(denied.index).mean()), 3),
        "setup": {
            "model": model_tag,
            "cpus": os.cpu_count(),
            "n_candidates": engine.settings.n_candidates,
            "precision": engine.settings.precision,
            "batch_repeats": BATCH_REPEATS,
            "coalesce_ms": settings.serve.coalesce_ms,
            "coalesce_wait_ms": settings.serve.coalesce_wait_ms(engine.scorer.score_in_one_call),
            "rounds": args.rounds,
        },
    }


def measure(projects: dict[str, dict[str, Any]], home: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every project's bento served at once and asked in turn, ``args.rounds`` times, each round's
    order the last one's reversed, then a batch over HTTP to each -> each project's figures."""
    servers: dict[str, tuple[str, subprocess.Popen]] = {}
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {name: {w: [] for w in WORKLOADS} for name in projects}
    http_batch: dict[str, dict[str, tuple[float, int]]] = {name: {} for name in projects}
    try:
        for name, project in projects.items():
            port = free_port()
            servers[name] = (
                f"http://127.0.0.1:{port}",
                serve(project["bento"], home, port, home / f"serve-{name}.log"),
            )
        for name, (url, server) in servers.items():
            wait_until_ready(url, server, home / f"serve-{name}.log", READY_WITHIN_S)
        order = list(projects)
        for _ in range(args.rounds):
            for workload in WORKLOADS:
                for name in order:
                    rows = projects[name]["records"][workload]
                    rounds[name][workload].append(
                        asyncio.run(
                            single_requests(servers[name][0], rows, args.requests, args.concurrency, args.time_cap)
                        )
                    )
            order.reverse()
        for name, (url, _) in servers.items():
            with httpx.Client(base_url=url, timeout=60) as http:
                for workload, rows in projects[name]["records"].items():
                    body = {"applicants": rows[:BATCH_SIZE]}
                    http_batch[name][workload] = median_seconds(
                        lambda b=body: http.post("/recourse_batch", json=b).status_code == 200, BATCH_REPEATS
                    )  # type: ignore[misc]
    finally:
        for _, server in servers.values():
            stop(server)

    def figures(name: str) -> dict[str, Any]:
        project = projects[name]

        def batch(workload: str) -> dict[str, Any]:
            http, library = http_batch[name][workload], project["library"][workload]
            return {
                "size": BATCH_SIZE,
                "http_seconds": round(http[0], 3),
                "library_seconds": round(library[0], 3),
                "errors": http[1] + library[1],
            }

        single = {w: single_figures(rounds[name][w], args.concurrency) for w in WORKLOADS}
        return {
            "single": single["test_rows"],
            "batch": {**batch("test_rows"), "denied_share": project["denied_share"]},
            "all_denied": {
                "single": single["all_denied"],
                "batch": {**batch("all_denied"), "library_seconds_by_setting": project["variants"]},
            },
            "setup": project["setup"],
        }

    return {name: figures(name) for name in projects}


def single_of(report: dict[str, Any], workload: str) -> dict[str, Any]:
    """A model's single-request figures for one workload, from its part of the report."""
    return report["single"] if workload == "test_rows" else report["all_denied"]["single"]


def served_with(settings: Any, args: argparse.Namespace) -> Any:
    """``settings`` with ``--coalesce-ms`` in place of params.yaml's, where given."""
    if args.coalesce_ms is None:
        return settings
    return settings.model_copy(update={"serve": settings.serve.model_copy(update={"coalesce_ms": args.coalesce_ms})})


def prepared_own_model(home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from genre.offline import go_offline

    go_offline()
    return prepared(served_with(own_model_project(home / "own-model-project"), args), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight at once")
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds for each single-request phase")
    parser.add_argument(
        "--rounds", type=int, default=3, help="single-request phases per workload and model, the models asked in turn"
    )
    parser.add_argument("--coalesce-ms", type=float, help="serve.coalesce_ms for both models (default: params.yaml's)")
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports" / "serve_load.json", help="where the JSON report goes"
    )
    parser.add_argument(
        "--own-model",
        action="store_true",
        help="also serve a lender's gradient-boosted model trained on the same data, and compare",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="genre-serve-load-"))
    os.environ["BENTOML_HOME"] = str(home)  # before BentoML first reads it, in this process
    try:
        from genre.offline import go_offline
        from genre.settings import load_settings

        go_offline()
        projects = {"mlp": prepared(served_with(load_settings(REPO / "params.yaml"), args), args)}
        if args.own_model:
            # Built in a fresh process: BentoML resolves the service's model once per process, so a
            # second build here would record the first model in the second bento.
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                projects["own_model"] = pool.apply(prepared_own_model, (home, args))
        measured = measure(projects, home, args)
        report = measured["mlp"]
        if args.own_model:
            own = report["own_model"] = measured["own_model"]
            # single requests per second, own model over MLP: each round's ratio, and their median
            by_round = {
                w: [
                    round(o / m, 3)
                    for o, m in zip(
                        single_of(own, w)["rps_by_round"], single_of(report, w)["rps_by_round"], strict=True
                    )
                ]
                for w in WORKLOADS
            }
            report["own_model_vs_mlp_rps"] = {w: round(statistics.median(ratios), 3) for w, ratios in by_round.items()}
            report["own_model_vs_mlp_rps_by_round"] = by_round
    finally:
        shutil.rmtree(home, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = stamped(report)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
