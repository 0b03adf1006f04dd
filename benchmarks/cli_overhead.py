"""What the batch command costs beyond the recourse work itself: ``genre recourse`` on a CSV of
applicants against the engine answering the same applicants in-process.

The applicants are the prepared Adult test rows (label dropped), repeated to ``--rows``. The engine
is the one ``genre recourse --workspace`` answers with (``engine_from_artifacts`` on this checkout's
trained artifacts and ``params.yaml``'s recourse settings); its time is ``engine.recourse`` on the
transformed rows, after loading. The command's time is the whole subprocess, wall clock: start-up,
imports, loading, reading and checking every row, the recourse, and writing the answers. One run
each, and both must find recourse for the same number of applicants. ``--workspace`` rather than
the production model, so the benchmark needs no BentoML store: both load the same files. The
command is also timed on the file's header alone (``cli_start_seconds``): what any run pays before
its first row (start-up, imports, loading the engine), against what grows with the rows.

    python benchmarks/cli_overhead.py [--rows 10000]

Needs this checkout's trained artifacts (``dvc repro``; run here if they are missing). Writes
``reports/cli_overhead.json``: ``{"rows", "cli_seconds", "engine_seconds", "ratio", "cli_start_seconds",
"ratio_beyond_start", "commit", "machine"}``.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from genre.artifacts.atomic import write_json
from genre.artifacts.paths import Artifacts
from genre.data.schema import load_schema
from genre.offline import go_offline
from genre.serving.bundle import engine_from_artifacts
from genre.settings import load_settings
from research.provenance import head_commit, machine

REPO = Path(__file__).resolve().parents[1]


def applicants(paths: Artifacts, rows: int) -> pd.DataFrame:
    """The test split's rows without their label, repeated to ``rows``."""
    test = pd.read_csv(paths.test_csv).drop(columns=[load_schema(paths.schema).target.name])
    return pd.concat([test] * math.ceil(rows / len(test)), ignore_index=True).head(rows)


def timed_cli(given: Path, answered: Path) -> float:
    """Wall seconds of ``genre recourse`` answering ``given`` into ``answered``, as a user runs it."""
    genre = str(Path(sys.executable).parent / "genre")
    params = str(REPO / "params.yaml")
    command = [genre, "recourse", "--input", str(given), "--output", str(answered), "--params", params, "--workspace"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"genre recourse exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "cli_overhead.json", help="the JSON report")
    args = parser.parse_args()
    go_offline()
    paths = Artifacts(REPO)
    if not (paths.generator.is_file() and paths.selection.is_file()):
        subprocess.run(["dvc", "repro"], cwd=REPO, check=True)
    settings = load_settings(REPO / "params.yaml")
    frame = applicants(paths, args.rows)
    engine = engine_from_artifacts(paths, settings.recourse)
    start = time.perf_counter()
    batch = engine.recourse(engine.pre.transform(frame), seed=0)  # the command's default seed
    engine_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="genre-cli-overhead-") as scratch:
        given, header, answered = (Path(scratch) / name for name in ("applicants.csv", "header.csv", "answers.csv"))
        frame.to_csv(given, index=False)
        frame.head(0).to_csv(header, index=False)
        start_seconds = timed_cli(header, answered)
        cli_seconds = timed_cli(given, answered)
        cli_found = int((pd.read_csv(answered, usecols=["status"])["status"] == "found").sum())
    engine_found = int(batch.found.sum())
    if cli_found != engine_found:
        raise SystemExit(f"the command found recourse for {cli_found} applicants, the engine for {engine_found}")

    report = {
        "rows": len(frame),
        "cli_seconds": round(cli_seconds, 2),
        "engine_seconds": round(engine_seconds, 2),
        "ratio": round(cli_seconds / engine_seconds, 3),
        "cli_start_seconds": round(start_seconds, 2),
        # what grows with the rows, start-up set aside: the command's reading, checking and writing
        "ratio_beyond_start": round((cli_seconds - start_seconds) / engine_seconds, 3),
        "commit": head_commit(),
        "machine": machine(),
    }
    write_json(args.out, report)
    print(report)


if __name__ == "__main__":
    main()
