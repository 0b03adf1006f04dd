"""Records that replay and records that go: answers recorded by a served model, regenerated from the
registry byte for byte, across a promotion; then ten applicants' records erased.

A scratch copy of the project (its own git, DVC and BentoML store) trains twice: a first model
(production, as the first packaged) and a second with another classifier seed. ``genre production
serve`` answers a client with an API key: single requests (some with options: alternatives,
frozen features, a tighter max_change) and batches, until ``--answers`` answers are recorded; then
the second model is promoted, the service follows it, and as many answers again are recorded.
Every record in the answer log is then regenerated from the model version it names
(``genre.serving.replay``, the code ``genre record replay`` runs) and compared as canonical JSON;
one is replayed through the command itself too. Last, ``genre record forget --applicant-hash`` is
run for ten applicants, and the answer log is searched for anything of theirs left.

Usage: ``python benchmarks/replay.py [--answers 600] [--base-rows 8000]``
Writes ``reports/replay.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from genre.artifacts.atomic import write_json
from research.local_server import free_port, serve_production, wait_until_ready
from research.provenance import head_commit, stamped
from research.scratch_project import REPO, scratch_project, with_params

ADULT = REPO / "data/raw/adult"
LABEL = "income"
READY_WITHIN_S = 600
FOLLOW_WITHIN_S = 60
OPTIONS: list[dict[str, Any]] = [  # what the single requests ask besides the applicant, in turn
    {},
    {"alternatives": 2},
    {"frozen": ["hours-per-week"]},
    {"max_change": {"age": 3}},
    {"selection": "most_confident"},
]


def run(root: Path, env: dict[str, str], *command: str) -> str:
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def trained(root: Path, env: dict[str, str]) -> str:
    """``dvc repro``; -> the model version it packaged."""
    run(root, env, "dvc", "repro", "--quiet")
    return str(json.loads((root / "metrics/package.json").read_text())["model_tag"])


def ask(http: httpx.Client, applicants: list[dict[str, Any]], answers: int) -> list[str]:
    """Requests until ``answers`` answers were given; -> the model versions that gave them."""
    versions: list[str] = []
    i = 0
    while len(versions) < answers:
        if i % 4 == 3:  # every fourth request a batch of ten
            chunk = [applicants[(i + k) % len(applicants)] for k in range(10)]
            response = http.post("/recourse_batch", json={"applicants": chunk})
            response.raise_for_status()
            versions += [response.json()["model_version"]] * len(chunk)
        else:
            body = {"applicant": applicants[i % len(applicants)], **OPTIONS[i % len(OPTIONS)]}
            response = http.post("/recourse", json=body)
            response.raise_for_status()
            versions.append(response.json()["model_version"])
        i += 1
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=600, help="Answers recorded per model version.")
    parser.add_argument("--base-rows", type=int, default=8000, help="Adult training rows the models learn from.")
    parser.add_argument("--forget", type=int, default=10, help="Applicants whose records are erased.")
    parser.add_argument("--root", type=Path, default=REPO / "reports/tmp/replay")
    args = parser.parse_args()
    commit, started = head_commit(), time.monotonic()
    root = args.root.resolve()
    env = scratch_project(root)
    os.environ["BENTOML_HOME"] = env["BENTOML_HOME"]  # replays in this process read the scratch store
    train = pd.read_csv(ADULT / "train.csv.gz").sample(n=args.base_rows, random_state=0)
    (root / "data/raw/base").mkdir(parents=True)
    train.to_csv(root / "data/raw/base/train.csv", index=False)
    params = (root / "params.yaml").read_text()
    with_params(root, params, {"ingest": {"train_csv": "data/raw/base/train.csv"}})
    first = trained(root, env)
    with_params(root, params, {"ingest": {"train_csv": "data/raw/base/train.csv"}, "train_classifier": {"seed": 1}})
    second = trained(root, env)
    print(f"models: {first} (production), {second}", flush=True)

    key = run(root, env, "genre", "keys", "add", "replay-client", "--unlimited").strip()
    applicants = json.loads(
        pd.read_csv(ADULT / "test.csv.gz").drop(columns=[LABEL]).head(200).to_json(orient="records")
    )
    port = free_port()
    server = serve_production(root, env, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, server, root / "serve.log", READY_WITHIN_S)
        with httpx.Client(base_url=url, timeout=60, headers={"authorization": f"Bearer {key}"}) as http:
            before = ask(http, applicants, args.answers)
            run(root, env, "genre", "production", "promote", second, "--reason", "replay benchmark")
            deadline = time.monotonic() + FOLLOW_WITHIN_S
            while ask(http, applicants[:1], 1) != [second]:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the service did not follow the promotion of {second} within {FOLLOW_WITHIN_S} s")
                time.sleep(0.5)
            after = ask(http, applicants[::-1], args.answers)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    from genre.serving.answer_log import log_files
    from genre.serving.replay import replayed

    folder = root / "logs/answers"
    entries = [json.loads(line) for day in log_files(folder) for line in day.read_text().splitlines()]
    replay_started = time.monotonic()
    identical = sum(recorded == again for recorded, again in map(replayed, entries))
    replay_s = time.monotonic() - replay_started
    by_command = run(root, env, "genre", "record", "replay", entries[-1]["record_id"])

    hashes = list(dict.fromkeys(e["input_hash"] for e in entries))[: args.forget]
    erased = [int(run(root, env, "genre", "record", "forget", "--applicant-hash", h).split()[1]) for h in hashes]
    left = [json.loads(line) for day in log_files(folder) for line in day.read_text().splitlines()]
    report = stamped(
        {
            "replayed": len(entries),
            "identical": identical,
            "model_versions": len({e["model_version"] for e in entries}),
            "erased_left": sum(e["input_hash"] in hashes for e in left),
            "answers_by_version": {v: (before + after).count(v) for v in (first, second)},
            "promoted_after": {"first": first, "second": second},
            "command_replay": by_command.strip(),
            "forgotten_applicants": len(hashes),
            "erased_records": erased,
            "records_left": len(left),
            "replay_seconds": round(replay_s, 1),
            "seconds": round(time.monotonic() - started, 1),
            "base_rows": args.base_rows,
            "commit": commit,
        }
    )
    write_json(REPO / "reports/replay.json", report)
    print(json.dumps({k: report[k] for k in ("replayed", "identical", "model_versions", "erased_left")}))


if __name__ == "__main__":
    main()
