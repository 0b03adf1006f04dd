"""Wall time of each stage of the default pipeline, run in-process on a scratch copy.

Usage: ``python benchmarks/stage_times.py [--sample-rows N]``. Prints a table and writes
``reports/stage_times.json``. The scratch copy keeps the DVC workspace and the user's BentoML
store untouched; Prefect's per-process server start-up is not included (it is the same ~10 s for
every stage under ``dvc repro``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from genre import evaluate, ingest, package, synthesize_pairs, train_classifier, train_generator
from genre.atomic import write_json
from genre.offline import go_offline
from genre.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
STAGES = {
    "ingest": ingest.run,
    "train_classifier": train_classifier.run,
    "synthesize_pairs": synthesize_pairs.run,
    "train_generator": train_generator.run,
    "evaluate": evaluate.run,
    "package": package.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample-rows", type=int, default=None, help="cap rows per split (quick check)")
    args = parser.parse_args()
    go_offline()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        shutil.copytree(REPO / "data/raw", root / "data/raw")
        shutil.copytree(REPO / "genre", root / "genre", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO / "bentofile.yaml", root / "bentofile.yaml")
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["ingest"]["sample_rows"] = args.sample_rows
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        os.environ["BENTOML_HOME"] = str(root / ".bentoml")
        settings = load_settings(root / "params.yaml")
        seconds: dict[str, float] = {}
        for name, run in STAGES.items():
            started = time.perf_counter()
            run(settings)
            seconds[name] = round(time.perf_counter() - started, 2)
    seconds["total"] = round(sum(seconds.values()), 2)
    table = Table("stage", "seconds", title=f"stage wall times ({os.cpu_count()} cores, sample_rows={args.sample_rows})")
    for name, value in seconds.items():
        table.add_row(name, f"{value:.1f}")
    Console().print(table)
    write_json(REPO / "reports/stage_times.json", {"sample_rows": args.sample_rows, "cpu_count": os.cpu_count(), "seconds": seconds})


if __name__ == "__main__":
    main()
