"""A year of unattended retraining, compressed: weekly runs of the retraining flow on a sample-sized
Adult project while ``genre production serve`` answers a client throughout.

Weeks bring honest batches (rows like the training data), a poisoned batch (labels swapped between
approved and denied applicants for 40% of its rows, so the approval rate does not move) followed
by honest weeks, a corrupt week (an unreadable ``.gz`` beside an honest batch), a drifted week
(every applicant 20 years older) and a week whose run is killed with ``kill -9`` while a stage
trains. Each week is one ``python -m flows.retrain`` in its own process, as the schedule runs it.

Per run: the batches' kind, the decision and its reason, both models' figures (and production's
sibling's, where the gate trained one), the rules that failed and those passed only against
production and its sibling averaged (where the gate judged), the batch files the challenger was
trained on (from the model's own metadata), the exit code and the seconds. Throughout, a client
sends ``/recourse`` requests to the served bento and records each answer's ``model_version``; after
every promotion the time until the service answers only from the new model is measured, and every
request that did not get an HTTP 200 is counted. After the killed run, every process of its tree
(the Prefect server it shares excepted: it stops itself once idle) still alive is an orphan.

Usage: ``python benchmarks/retraining_year.py [--weeks 12] [--base-rows 8000] [--out retraining_year]``
Writes ``reports/<out>.json`` and ``reports/<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil

from genre.artifacts.atomic import write_json, write_text
from research.local_server import free_port, serve_production, wait_until_ready
from research.provenance import head_commit, stamped
from research.scratch_project import scratch_project, with_params
from research.weekly_batches import ADULT, LABEL, adult_rows, drifted, poisoned

REPO = Path(__file__).resolve().parents[1]
ORPHAN_WAIT_S = 15.0  # a stage that outlives its run by this much is an orphan
FOLLOW_TARGET_S = 60.0
READY_WITHIN_S = 600.0  # a first start on a busy machine
KINDS = ("honest", "poisoned", "corrupt", "drifted", "killed")


def calendar(weeks: int) -> list[str]:
    """Which kind of week each is: honest, except a poisoned week followed by honest ones, then a
    corrupt, a drifted and a killed week spread over the year."""
    plan = ["honest"] * weeks
    for week, kind in ((3, "poisoned"), (6, "corrupt"), (8, "drifted"), (10, "killed")):
        if week <= weeks:
            plan[week - 1] = kind
    return plan


@dataclass
class Client:
    """Sends one ``/recourse`` request after another (cycling through ``applicants``) and keeps (time
    answered, status, model)."""

    url: str
    applicants: list[dict[str, Any]]
    key: str  # the API key it calls with
    pause_s: float = 0.2
    answers: list[tuple[float, int, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60, headers={"authorization": f"Bearer {self.key}"}) as http:
            while not self.stop.is_set():
                applicant = self.applicants[len(self.answers) % len(self.applicants)]
                try:
                    response = http.post("/recourse", json={"applicant": applicant})
                    version = response.json().get("model_version") if response.status_code == 200 else None
                    self.answers.append((time.time(), response.status_code, version))
                except httpx.TransportError:
                    self.answers.append((time.time(), 0, None))  # dropped: no answer at all
                self.stop.wait(self.pause_s)


def followed_seconds(
    answers: list[tuple[float, int, str | None]], promoted_at: float, until: float, model: str
) -> float | None:
    """From a promotion to the first answer from ``model`` after which no other model answers,
    before the next change of production (``until``)."""
    after = [(t, v) for t, status, v in answers if promoted_at <= t < until and status == 200]
    older = [t for t, v in after if v != model]
    newer = [t for t, v in after if v == model and (not older or t > max(older))]
    return round(newer[0] - promoted_at, 1) if newer else None


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants, but not the shared Prefect server (it outlives runs by design)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    return [p for p in processes if "flows.server" not in " ".join(_cmdline(p))]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def kill_mid_stage(run: subprocess.Popen[str], stage: str) -> tuple[list[psutil.Process], str]:
    """``kill -9`` the run once ``stage`` has been training for a few seconds; -> its tree, and where it was."""
    while run.poll() is None:
        busy = [p for p in tree(run.pid) if f"flows.{stage}" in " ".join(_cmdline(p))]
        if busy:
            time.sleep(3)
            processes = tree(run.pid)
            os.kill(run.pid, signal.SIGKILL)
            return processes, f"killed with -9 during {stage} ({len(processes)} processes in its tree)"
        time.sleep(0.2)
    return [], f"finished before {stage} started: not killed"


def survivors(processes: list[psutil.Process]) -> list[str]:
    deadline = time.monotonic() + ORPHAN_WAIT_S
    while time.monotonic() < deadline:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return []
        time.sleep(0.5)
    return [" ".join(_cmdline(p))[:200] for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def trained_on(root: Path, env: dict[str, str], model: str | None) -> list[str]:
    """The accepted batch files a model version was trained on, from its metadata (the base file left out)."""
    if not model:
        return []
    done = subprocess.run(
        ["bentoml", "models", "get", model, "-o", "json"], cwd=root, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        return []
    files = json.loads(done.stdout)["metadata"]["data"]["files"]
    return sorted(Path(f["path"]).name for f in files if "accepted" in Path(f["path"]).parts)


def newest_record(root: Path, since: float) -> dict[str, Any]:
    records = [p for p in (root / "registry/decisions").glob("*.json") if p.stat().st_mtime >= since]
    return json.loads(max(records, key=lambda p: p.stat().st_mtime).read_text()) if records else {}


FIGURES = ("score", "validity_rf", "lof", "cost", "found_rate")  # the gate's figures a run's entry keeps


def figures(record: dict[str, Any]) -> dict[str, dict[str, float]] | None:
    """Both models' figures on the gate set, where the run was judged (and production's sibling's,
    where the gate trained one)."""
    compared = record.get("comparison")
    if not compared:
        return None
    return {who: {k: judged[k] for k in FIGURES} for who, judged in compared["figures"].items()}


def production_changes(root: Path) -> list[tuple[float, str]]:
    """(when, model) of every production change the pointer records."""
    registry = json.loads((root / "registry/production.json").read_text())
    return [(datetime.fromisoformat(r["at"]).timestamp(), r["model"]) for r in registry["history"]]


def page(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        "# A year of unattended retraining, compressed (`benchmarks/retraining_year.py`)",
        "",
        (
            f"Commit {report['commit']}, {report['machine']}. Base {report['base_rows']} rows of Adult; "
            f"weekly batches of {report['batch_rows']} rows (the poisoned one {report['poisoned_rows']}); "
            "one `python -m flows.retrain` per week while `genre production serve` answered a client."
        ),
        "",
        "| week | batch | decision | trained on | exit | seconds | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['week']} | {r['batch_kind']} | {r['decision']} | {', '.join(r['trained_on']) or '(base only)'} "
            f"| {r['exit']} | {r['seconds']:.0f} | {r['reason'][:220]} |"
        )
    lines += [
        "",
        "## Summary",
        "",
        *(f"- {name}: {value}" for name, value in s.items()),
        "",
        "## Targets",
        "",
        *(f"- {name}: {'met' if met else 'NOT met'}" for name, met in report["targets"].items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--base-rows", type=int, default=8000)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--poisoned-rows", type=int, default=2000)
    parser.add_argument("--root", type=Path, default=REPO / "reports/tmp/retraining_year")
    parser.add_argument("--machine", default=None, help="The machine and how busy it was, for the report.")
    parser.add_argument("--out", default="retraining_year", help="The reports' name under reports/ (.json, .md).")
    args = parser.parse_args()
    root, commit = args.root, head_commit()  # the code the scratch copy is made of
    env = scratch_project(root)
    kinds = calendar(args.weeks)
    train = adult_rows()
    needed = args.base_rows + sum(args.poisoned_rows if k == "poisoned" else args.batch_rows for k in kinds)
    if needed > len(train):
        raise SystemExit(f"the weeks need {needed} rows of Adult's training data, which has {len(train)}")
    base = train.iloc[: args.base_rows]
    rest = train.iloc[args.base_rows :].reset_index(drop=True)
    (root / "data/raw/base").mkdir(parents=True)
    base.to_csv(root / "data/raw/base/train.csv", index=False)
    with_params(root, (root / "params.yaml").read_text(), {"ingest": {"train_csv": "data/raw/base/train.csv"}})

    runs: list[dict[str, Any]] = []
    orphans: list[str] = []
    server: subprocess.Popen[bytes] | None = None
    client: Client | None = None
    thread: threading.Thread | None = None
    applicants = json.loads(pd.read_csv(ADULT / "test.csv.gz").drop(columns=[LABEL]).head(50).to_json(orient="records"))
    offset = 0
    try:
        for week in range(len(kinds) + 1):
            kind = "base" if week == 0 else kinds[week - 1]
            incoming = root / "data/incoming"
            incoming.mkdir(parents=True, exist_ok=True)
            if week:
                rows = args.poisoned_rows if kind == "poisoned" else args.batch_rows
                batch = rest.iloc[offset : offset + rows]
                offset += rows
                if kind == "poisoned":
                    batch = poisoned(batch, 0.4, seed=week)
                elif kind == "drifted":
                    batch = drifted(batch)
                batch.to_csv(incoming / f"2027-w{week:02d}.csv", index=False)
                if kind == "corrupt":
                    (incoming / f"2027-w{week:02d}-extra.csv.gz").write_bytes(os.urandom(4096))
            started, wall = time.monotonic(), time.time()
            run = subprocess.Popen(
                [sys.executable, "-m", "flows.retrain"],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            output: list[str] = []
            reader = threading.Thread(target=lambda r=run, o=output: o.extend(r.stdout or []), daemon=True)
            reader.start()
            reason = ""
            if kind == "killed":
                processes, reason = kill_mid_stage(run, "train_classifier")
                left = survivors(processes)
                orphans += left
            run.wait()
            reader.join(timeout=30)
            seconds = time.monotonic() - started
            record = newest_record(root, wall)
            text = "".join(output)
            decision = record.get("decision") or ("killed" if kind == "killed" else "no record")
            runs.append(
                {
                    "week": week,
                    "batch_kind": kind,
                    "decision": decision,
                    "reason": record.get("reason") or reason or (text.strip().splitlines() or [""])[-1],
                    "trained_on": trained_on(root, env, record.get("challenger")),
                    "challenger": record.get("challenger"),
                    "figures": figures(record),
                    "failed_rules": [
                        {k: rule.get(k) for k in ("name", "value", "limit", "interval")}
                        for rule in (record.get("comparison") or {}).get("rules", [])
                        if not rule["passed"]
                    ],
                    "passed_against_expected": [  # rules failed against production, passed against it and its sibling
                        rule["name"]
                        for rule in (record.get("comparison") or {}).get("rules", [])
                        if rule["passed"] and rule.get("against") == "expected"
                    ],
                    "exit": run.returncode,
                    "crashed": "Traceback" in text and kind != "killed",
                    "seconds": round(seconds, 1),
                }
            )
            print(f"week {week} ({kind}): {decision}, exit {run.returncode}, {seconds:.0f} s", flush=True)
            if week == 0:
                port = free_port()
                key = subprocess.run(
                    ["genre", "keys", "add", "year-client", "--unlimited"],
                    cwd=root,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip()
                server = serve_production(root, env, port)
                wait_until_ready(f"http://127.0.0.1:{port}", server, root / "serve.log", READY_WITHIN_S)
                client = Client(f"http://127.0.0.1:{port}", applicants, key)
                thread = threading.Thread(target=client.run, daemon=True)
                thread.start()
        time.sleep(FOLLOW_TARGET_S)  # the last promotion's answers, too
    finally:
        if client is not None:
            client.stop.set()
        if thread is not None:
            thread.join(timeout=60)
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(60)

    assert client is not None
    promotions = [r for r in runs if r["decision"] == "promoted" and r["week"] > 0]
    changes = production_changes(root)
    follows = [  # the first model was production before serving began
        followed_seconds(client.answers, at, until, model)
        for (at, model), (until, _) in zip(changes[1:], [*changes[2:], (float("inf"), "")], strict=True)
    ]
    poisoned_files = [f"2027-w{r['week']:02d}" for r in runs if r["batch_kind"] == "poisoned"]
    honest = [r for r in runs if r["batch_kind"] == "honest"]
    summary = {
        "honest_runs": len(honest),
        "honest_promoted": sum(r["decision"] == "promoted" for r in honest),
        "poisoned_promoted": sum(r["decision"] == "promoted" for r in runs if r["batch_kind"] == "poisoned"),
        "poisoned_trained_on_later": sum(
            any(bad in name for bad in poisoned_files for name in r["trained_on"])
            for r in runs
            if r["batch_kind"] != "poisoned"
        ),
        "crashes": sum(r["crashed"] for r in runs),
        "orphans": len(orphans),
        "orphaned": orphans,
        "promotions": len(promotions),
        "served_followed_seconds": follows,
        "served_followed_seconds_max": max((f for f in follows if f is not None), default=None),
        "answers": len(client.answers),
        "answers_not_200": sum(status != 200 for _, status, _ in client.answers),
    }
    targets = {
        ">= 90% of honest runs promoted": summary["honest_promoted"] >= 0.9 * summary["honest_runs"],
        "0 poisoned promoted": summary["poisoned_promoted"] == 0,
        "0 poisoned batches trained on later": summary["poisoned_trained_on_later"] == 0,
        "0 crashes": summary["crashes"] == 0,
        "0 orphaned processes": summary["orphans"] == 0,
        "every promotion served within 60 s": bool(follows)
        and all(f is not None and f <= FOLLOW_TARGET_S for f in follows),
        "no request dropped": summary["answers_not_200"] == 0,
    }
    report = stamped(
        {
            "base_rows": args.base_rows,
            "batch_rows": args.batch_rows,
            "poisoned_rows": args.poisoned_rows,
            "commit": commit,
            "runs": runs,
            "summary": summary,
            "targets": targets,
            **({"machine": args.machine} if args.machine else {}),
        }
    )
    write_json(REPO / f"reports/{args.out}.json", report)
    write_text(REPO / f"reports/{args.out}.md", page(report))
    print(json.dumps({"summary": summary, "targets": targets}, indent=2))


if __name__ == "__main__":
    main()
