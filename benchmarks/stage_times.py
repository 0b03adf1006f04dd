"""Where ``dvc repro`` spends its time: each stage's own work against the overhead around it.

Usage: ``python benchmarks/stage_times.py [--sample-rows N] [--prefect-home DIR]``. Copies the
project (code, raw data, pipeline definition, params) into a scratch git + DVC repository and runs
``dvc repro`` there exactly as a user does, each stage a ``python -m flows.<stage>`` process. Each
stage process records its timings (``GENRE_STAGE_TIMINGS``, see ``flows/stage.py``); the rest of
the wall time is DVC's own (hashing, locking, starting processes) and the processes' exit.

Per stage it reports the process start and imports (until the flow module's ``main`` runs),
the wait for the Prefect API (the shared local server: started by the first stage, reused by the
others; the stage's own library is imported meanwhile, see ``flows.stage.stage_flow``), Prefect's
bookkeeping around the flow run, and the work itself. The Prefect home is a
fresh one unless ``--prefect-home`` names one, so the first stage pays for creating Prefect's
database as a new user's does; with ``PREFECT_API_URL`` set, that server is used instead. Prints a
table and writes ``reports/stage_times.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from flows.server import SharedServer
from genre.artifacts.atomic import write_json
from research.provenance import stamped

REPO = Path(__file__).resolve().parents[1]
TARGET_OVERHEAD_S = 30.0
PARTS = ("start_and_imports", "prefect_api", "prefect_run", "work", "process")  # of one stage process


def scratch_project(root: Path, sample_rows: int | None) -> None:
    for folder in ("genre", "flows", "data/raw", "models"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "bentofile.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"]["sample_rows"] = sample_rows
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"]):
        subprocess.run(cmd, cwd=root, check=True)


def breakdown(record: dict[str, float]) -> dict[str, float]:
    """One stage process's seconds, by where they went."""
    prefect_run = record["done"] - record["api_ready"] - record["work"]
    return {
        "start_and_imports": record["main"] - record["process_start"],
        "prefect_api": record["api_ready"] - record["main"],
        "prefect_run": prefect_run,
        "work": record["work"],
        "process": record["done"] - record["process_start"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample-rows", type=int, default=None, help="cap rows per split (quick check)")
    parser.add_argument("--prefect-home", type=Path, default=None, help="Prefect home to use (default: a fresh one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as scratch:
        root = Path(scratch) / "project"
        root.mkdir()
        scratch_project(root, args.sample_rows)
        prefect_home = args.prefect_home or Path(scratch) / "prefect"
        timings = Path(scratch) / "timings.jsonl"
        env = {
            **os.environ,
            "PREFECT_HOME": str(prefect_home),
            "BENTOML_HOME": str(Path(scratch) / "bentoml"),
            "GENRE_STAGE_TIMINGS": str(timings),
        }
        started = time.perf_counter()
        done = subprocess.run(["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"dvc repro failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        records = [json.loads(line) for line in timings.read_text().splitlines()]
        if args.prefect_home is None and not os.environ.get("PREFECT_API_URL"):
            SharedServer(prefect_home).stop()
    stages = {r["flow"]: {k: round(v, 2) for k, v in breakdown(r).items()} for r in records}
    totals = {k: round(sum(s[k] for s in stages.values()), 2) for k in PARTS}
    outside = round(wall - totals["process"], 2)  # DVC itself, and the processes' exit
    overhead = round(wall - totals["work"], 2)
    table = Table(
        "stage",
        "start + imports",
        "Prefect API",
        "Prefect run",
        "work",
        "process",
        title=f"dvc repro on {os.cpu_count()} cores, sample_rows={args.sample_rows}",
    )
    for name, s in [*stages.items(), ("all stages", totals)]:
        table.add_row(name, *(f"{s[k]:.1f}" for k in PARTS))
    console = Console()
    console.print(table)
    console.print(
        f"dvc repro wall {wall:.1f} s: work {totals['work']:.1f} s, overhead {overhead:.1f} s "
        f"(of which DVC and process exits {outside:.1f} s; target under {TARGET_OVERHEAD_S:.0f} s)"
    )
    write_json(
        REPO / "reports/stage_times.json",
        stamped(
            {
                "command": "dvc repro",
                "sample_rows": args.sample_rows,
                "cpu_count": os.cpu_count(),
                "load_average_at_end": list(os.getloadavg()),
                "fresh_prefect_home": args.prefect_home is None,
                "prefect_api_url_set": bool(os.environ.get("PREFECT_API_URL")),
                "wall_seconds": round(wall, 2),
                "work_seconds": totals["work"],
                "overhead_seconds": overhead,
                "dvc_and_exit_seconds": outside,
                "stages": stages,
            }
        ),
    )


if __name__ == "__main__":
    main()
