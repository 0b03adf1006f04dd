"""Millions of applicants: how every stage grows with the data, and pair synthesis exact against
approximate, in-process against a local Dask cluster.

The data are Adult-shaped rows at each size (``research.scale_data.adult_like``: Adult's training
rows resampled, numeric features smoothed).

Pairs: the workspace's classifier (run ``dvc repro`` first) scores the rows, and
``synthesize_pairs.gamma`` splits them into sources and targets as the stage does. Each (size,
mode) runs in a fresh process, so its peak memory is its own: pair synthesis exact, approximate,
and approximate on a 2-worker local Dask cluster (``runner.kind: dask``; its peak is the driver
process's, the workers' is not in it), at params.yaml's k, lam and chunk size; the approximate
runs' recall of the exact top-k is measured as the stage measures it. Exact is not run above
``--exact-max`` rows (its time grows with sources x targets); the report says so and what the
growth measured predicts.

Stages: at each of ``--stage-sizes`` a scratch project (the code, Adult's schema, the rows as its
training CSV, params.yaml with ``synthesize_pairs.mode: approximate``) runs its six stages one
after another, each ``python -m flows.<stage>`` as DVC runs it, under ``/usr/bin/time``: its wall
seconds and peak memory. All stages share one local Prefect server, started before the first.

Usage: ``python benchmarks/scale.py [--sizes 10000 100000 1000000] [--stage-sizes 10000 100000]
[--exact-max 100000] [--dask-max 100000] [--machine "2 cores, idle"]``. Writes ``reports/scale.json`` ({"sizes":
{"<rows>": {"stages": {"<stage>": {"seconds", "peak_mib"}}, "pairs": {"exact": {"seconds",
"peak_mib"} or {"not_run"}, "approximate": {"seconds", "peak_mib", "recall"}, "approximate_dask":
{...}}}}, "exponents": {"<stage or pairs mode>": e}}), ``reports/scale.md`` and the log-log plot
``reports/scale.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from flows.server import DEFAULT_START_TIMEOUT_S, SharedServer
from genre.artifacts.atomic import write_json, write_text, write_with
from genre.artifacts.paths import Artifacts
from genre.data.datasets import read_raw
from genre.data.preprocessing import Preprocessor
from genre.models.classifier_file import load_classifier
from genre.models.threads import torch_threads
from genre.parallel import chunk_runner
from genre.recourse.pairs import pairing_distribution, split_sources_targets
from genre.settings import RunnerSettings, load_settings
from genre.stages.synthesize_pairs import sampled_recall
from research.provenance import stamped
from research.scale_data import adult_like

REPO = Path(__file__).resolve().parents[1]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(size: int, mode: str, seed: int) -> dict[str, Any]:
    """In its own process: the data at ``size`` rows, then pair synthesis in ``mode``."""
    settings = load_settings(REPO / "params.yaml")
    cfg = settings.synthesize_pairs
    paths = Artifacts(settings.root)
    pre = Preprocessor.load(paths.preprocessor)
    schema = pre.schema
    rows = adult_like(read_raw(settings.resolve(settings.ingest.train_csv), schema), schema, size, seed)
    x = pre.transform(rows)
    labels = (rows[schema.target.name].to_numpy() == schema.target.favourable).astype(np.int64)
    with torch_threads(settings.train_classifier.threads):
        h = load_classifier(paths.classifier, pre).predict_proba(x)
    sources, targets = split_sources_targets(h, labels, cfg.gamma)
    before = _peak_mib()
    approximate = cfg.approximate if mode.startswith("approximate") else None
    runner = RunnerSettings(kind="dask", workers=2) if mode.endswith("dask") else RunnerSettings()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(dir=REPO / "reports") as folder,
        chunk_runner(runner, "pairs-piece") as mapper,
    ):  # Q written as the stage writes it
        q = pairing_distribution(
            x[sources],
            x[targets],
            pre,
            cfg.lam,
            cfg.k,
            cfg.chunk_size,
            approximate,
            mapper,
            runner.parts,
            runner.chunk_rows,
            Path(folder),
        )
        seconds = round(time.perf_counter() - started, 2)
        out: dict[str, Any] = {
            "sources": len(sources),
            "targets": len(targets),
            "seconds": seconds,
            "peak_mib": round(_peak_mib(), 1),
            "peak_mib_before": round(before, 1),
        }
        out["pairs_bytes"] = sum(file.stat().st_size for file in Path(folder).iterdir())
        if approximate is not None:
            out["recall"] = sampled_recall(q, x[sources], x[targets], pre, cfg)
    return out


def _in_own_process(size: int, mode: str, seed: int) -> dict[str, Any]:
    # not multiprocessing.Pool: its workers are daemons, which may not start a Dask cluster's processes
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, size, mode, seed).result()


def exponent(sizes: list[int], seconds: list[float]) -> float | None:
    """The growth exponent e of seconds ~ rows^e between the two largest sizes measured."""
    if len(sizes) < 2:
        return None
    return round(math.log(seconds[-1] / seconds[-2]) / math.log(sizes[-1] / sizes[-2]), 2)


def timed_series(report: dict[str, Any]) -> dict[str, tuple[list[int], list[float]]]:
    """Each stage's and pair mode's (sizes, seconds), by size, over what the report measured."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    for size in sorted(report["sizes"], key=int):
        entry = report["sizes"][size]
        for name, figures in [
            *entry.get("stages", {}).items(),
            *((f"pairs_{mode}", f) for mode, f in entry["pairs"].items()),
        ]:
            if "seconds" in figures:
                series.setdefault(name, ([], []))[0].append(int(size))
                series[name][1].append(figures["seconds"])
    return series


STAGES = ("ingest", "train_classifier", "synthesize_pairs", "train_generator", "evaluate", "package")
MODES = ("exact", "approximate", "approximate_dask")


def scratch_project(root: Path, size: int, seed: int) -> None:
    """A project whose training CSV is ``size`` Adult-shaped rows (a quarter held out as its test
    split, as ingest splits a CSV without one), pairs searched approximately."""
    for folder in ("genre", "flows", "models"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    settings = load_settings(REPO / "params.yaml")
    schema_path = settings.resolve(settings.ingest.schema_path)
    pre_schema = Preprocessor.load(Artifacts(settings.root).preprocessor).schema
    (root / "data/raw/scale").mkdir(parents=True)
    shutil.copy(schema_path, root / "data/raw/scale/schema.yaml")
    adult_like(read_raw(settings.resolve(settings.ingest.train_csv), pre_schema), pre_schema, size, seed).to_csv(
        root / "data/raw/scale/train.csv", index=False
    )
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"].update(
        train_csv="data/raw/scale/train.csv", test_csv=None, schema_path="data/raw/scale/schema.yaml"
    )
    params["synthesize_pairs"]["mode"] = "approximate"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy(REPO / "bentofile.yaml", root / "bentofile.yaml")


def run_stages(size: int, seed: int, scratch: Path, api_url: str) -> dict[str, dict[str, float]]:
    """Each stage of a scratch project at ``size`` rows: wall seconds and peak MiB (``/usr/bin/time``)."""
    root = scratch / f"rows-{size}"
    scratch_project(root, size, seed)
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(scratch / "prefect"),
        "BENTOML_HOME": str(root / ".bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    out = {}
    for stage in STAGES:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-m", f"flows.{stage}"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"{stage} at {size} rows failed:\n{done.stderr[-3000:]}")
        seconds, kib = done.stderr.strip().splitlines()[-1].split()[1:]
        out[stage] = {"seconds": float(seconds), "peak_mib": round(int(kib) / 1024, 1)}
        print(f"{size:>9} rows, stage {stage:<17}: {out[stage]}", flush=True)
    return out


def exact_prediction(sizes: list[int], seconds: list[float], size: int) -> str:
    """What exact mode would take at ``size``: its work is sources x targets, both in proportion
    to the rows, so it grows with the square of them (the exponent measured between small sizes
    is flattened by fixed costs)."""
    if not sizes:
        return ""
    return (
        f"; its work is sources x targets, so the {sizes[-1]:,}-row run predicts "
        f"{seconds[-1] * (size / sizes[-1]) ** 2 / 60:.0f} minutes"
    )


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name, (sizes, seconds) in timed_series(report).items():
        ax.loglog(sizes, seconds, marker="o", linestyle="--" if name.startswith("pairs") else "-", label=name)
    ax.set_xlabel("rows")
    ax.set_ylabel("seconds")
    ax.set_title(f"genre at scale ({report['machine']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000], help="sizes pair synthesis runs at"
    )
    parser.add_argument(
        "--stage-sizes", nargs="*", type=int, default=[10_000, 100_000], help="sizes the six stages run at"
    )
    parser.add_argument("--exact-max", type=int, default=100_000, help="largest size exact mode is run at")
    parser.add_argument(
        "--dask-max",
        type=int,
        default=100_000,
        help="largest size the Dask run is made at (each worker holds its pieces' results, and the driver all of them)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--machine", default="unnamed machine")
    parser.add_argument(
        "--render", action="store_true", help="only write scale.md and scale.png again from reports/scale.json"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep what reports/scale.json holds of sizes and modes not run now (measure 1M on its own)",
    )
    args = parser.parse_args()
    if args.render:
        render(json.loads((REPO / "reports/scale.json").read_text()))
        return

    report: dict[str, Any] = json.loads((REPO / "reports/scale.json").read_text()) if args.merge else {"sizes": {}}
    report["machine"] = args.machine
    for size in sorted(set(args.sizes) | set(args.stage_sizes)):
        report["sizes"].setdefault(str(size), {"pairs": {}})
    report["sizes"] = dict(sorted(report["sizes"].items(), key=lambda item: int(item[0])))
    for size in args.sizes:
        entry = report["sizes"][str(size)]
        for mode in MODES:
            if mode == "approximate_dask" and size > args.dask_max:
                entry["pairs"][mode] = {"not_run": f"above --dask-max {args.dask_max}"}
                continue
            if mode == "exact" and size > args.exact_max:
                sizes, seconds = timed_series(report).get("pairs_exact", ([], []))
                entry["pairs"]["exact"] = {
                    "not_run": f"above --exact-max {args.exact_max}" + exact_prediction(sizes, seconds, size)
                }
                continue
            result = _in_own_process(size, mode, args.seed)
            entry.update(sources=result.pop("sources"), targets=result.pop("targets"))
            entry["pairs"][mode] = result
            print(f"{size:>9} rows, {mode:<16}: {result}", flush=True)
    if args.stage_sizes:
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as scratch:
            shared = SharedServer(Path(scratch) / "prefect")
            with shared.client(DEFAULT_START_TIMEOUT_S) as url:
                for size in args.stage_sizes:
                    report["sizes"][str(size)]["stages"] = run_stages(size, args.seed, Path(scratch), url)
            shared.stop()
    report["exponents"] = {name: exponent(*series) for name, series in timed_series(report).items()}
    report = stamped(report)
    write_json(REPO / "reports/scale.json", report)
    render(report)


def render(report: dict[str, Any]) -> None:
    """``reports/scale.md`` and ``scale.png`` from a report (``--render``: from the last JSON)."""
    plot(report, REPO / "reports/scale.png")
    lines = [
        "# genre at scale (`benchmarks/scale.py`)",
        "",
        (
            "Adult-shaped rows (resampled, numeric features smoothed); "
            f"commit {report.get('commit', 'unknown')}, {report['machine']}."
        ),
        "",
        "## Pair synthesis (the workspace's classifier; params.yaml's k, lam, chunk size)",
        "",
        (
            "| rows | sources x targets | exact s | exact peak MiB | approximate s | peak MiB | recall (top-k / mass) "
            "| Q on disk MB | on 2 Dask workers s | driver peak MiB |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, entry in report["sizes"].items():
        pairs = entry["pairs"]
        if "approximate" not in pairs:
            continue
        exact, approx, dask = pairs.get("exact", {}), pairs["approximate"], pairs.get("approximate_dask", {})
        shown = (
            (f"{exact['seconds']}", f"{exact['peak_mib']}") if "seconds" in exact else (exact.get("not_run", ""), "")
        )
        recall = approx["recall"]
        lines.append(
            f"| {int(size):,} | {entry['sources']:,} x {entry['targets']:,} | {shown[0]} | {shown[1]} "
            f"| {approx['seconds']} | {approx['peak_mib']} "
            f"| {recall['top_k']:.3f} / {recall['mass']:.3f} | {approx.get('pairs_bytes', 0) / 1e6:.0f} "
            f"| {dask.get('seconds', dask.get('not_run', ''))} | {dask.get('peak_mib', '')} |"
        )
    staged = [(size, entry["stages"]) for size, entry in report["sizes"].items() if "stages" in entry]
    if staged:
        lines += [
            "",
            "## The six stages (seconds / peak MiB, each stage's own process)",
            "",
            "| stage | " + " | ".join(f"{int(size):,} rows" for size, _ in staged) + " | exponent |",
            "|---|" + "---|" * (len(staged) + 1),
        ]
        for stage in STAGES:
            lines.append(
                f"| {stage} | "
                + " | ".join(f"{st[stage]['seconds']} / {st[stage]['peak_mib']}" for _, st in staged)
                + f" | {report['exponents'].get(stage)} |"
            )
        totals = [sum(v["seconds"] for v in st.values()) for _, st in staged]
        lines.append("| all | " + " | ".join(f"{t:.1f}" for t in totals) + " | |")
    lines += [
        "",
        "Growth exponents between the two largest sizes measured: "
        + ", ".join(f"{k} {v}" for k, v in report["exponents"].items())
        + ".",
    ]
    write_text(REPO / "reports/scale.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
