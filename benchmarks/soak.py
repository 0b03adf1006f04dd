"""Does the served bento's memory stay flat? Eight clients for an hour against one worker, its
resident memory sampled throughout.

The bento is built from this checkout and the repo's trained model (run ``dvc repro`` first) into a
scratch BentoML home and served by ``bentoml serve`` with API keys on and the answer log on, as
production serves. Eight client threads send requests back to back with a key: single requests
cycling through held-out applicants and options (alternatives, frozen features), every tenth a
batch of ten. Every ``--sample-s`` seconds the resident memory of every process the server runs is
read. Memory is judged after ``--warmup-min`` minutes (allocators and caches fill first): the
worker's growth from the end of warm-up to the end, and the slope of a straight line through the
post-warm-up samples, in MB an hour.

Usage: ``python benchmarks/soak.py [--minutes 60] [--clients 8]``. Writes ``reports/soak.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from genre.artifacts.atomic import write_json
from research.local_server import build, held_out_applicants, serve_with_keys, stop
from research.provenance import head_commit, stamped

REPO = Path(__file__).resolve().parents[1]
READY_WITHIN_S = 300
OPTIONS: list[dict[str, Any]] = [{}, {"alternatives": 2}, {"frozen": ["hours-per-week"]}]


def client(
    url: str, key: str, applicants: list[dict[str, Any]], offset: int, stop_at: float, out: Counter[int]
) -> None:
    with httpx.Client(base_url=url, timeout=120, headers={"authorization": f"Bearer {key}"}) as http:
        i = offset
        while time.monotonic() < stop_at:
            if i % 10 == 9:
                chunk = [applicants[(i + k) % len(applicants)] for k in range(10)]
                response = http.post("/recourse_batch", json={"applicants": chunk})
            else:
                body = {"applicant": applicants[i % len(applicants)], **OPTIONS[i % len(OPTIONS)]}
                response = http.post("/recourse", json=body)
            out[response.status_code] += 1
            i += 1


def rss_mb(server: psutil.Process) -> dict[str, float]:
    """Resident memory of each process of the server's tree, by pid."""
    out = {}
    for proc in [server, *server.children(recursive=True)]:
        try:
            out[f"{proc.pid} {' '.join(proc.cmdline()[1:3])[:60]}"] = proc.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--warmup-min", type=float, default=5.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--machine", default=None, help="The machine and how busy it was, for the report.")
    args = parser.parse_args()
    commit = head_commit()  # the code the bento is built from: the checkout may move on during the hour
    scratch = Path(tempfile.mkdtemp(prefix="genre-soak-"))
    home, workdir = scratch / "bentoml", scratch / "served"
    workdir.mkdir(parents=True)
    os.environ["BENTOML_HOME"] = str(home)  # before BentoML first reads it, in this process
    server = None
    try:
        from genre.offline import go_offline
        from genre.serving.keys import add_key
        from genre.settings import load_settings

        go_offline()
        bento, _, _ = build(load_settings(REPO / "params.yaml"))
        keys = scratch / "api-keys.json"
        key = add_key(keys, "soak", None, None)
        server, url = serve_with_keys(bento, home, workdir, keys, scratch / "serve.log", READY_WITHIN_S)
        applicants = held_out_applicants(500)

        started = time.monotonic()
        stop_at = started + args.minutes * 60
        statuses: Counter[int] = Counter()
        threads = [
            threading.Thread(target=client, args=(url, key, applicants, 37 * c, stop_at, statuses), daemon=True)
            for c in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        tree = psutil.Process(server.pid)
        samples: list[dict[str, Any]] = []
        while time.monotonic() < stop_at:
            samples.append(
                {
                    "minute": round((time.monotonic() - started) / 60, 2),
                    "requests": sum(statuses.values()),
                    "rss_mb": rss_mb(tree),
                }
            )
            print(
                f"{samples[-1]['minute']:6.1f} min {samples[-1]['requests']} requests {samples[-1]['rss_mb']}",
                flush=True,
            )
            time.sleep(min(args.sample_s, max(0.0, stop_at - time.monotonic())))
        for thread in threads:
            thread.join()
        samples.append(
            {
                "minute": round((time.monotonic() - started) / 60, 2),
                "requests": sum(statuses.values()),
                "rss_mb": rss_mb(tree),
            }
        )
        log_bytes = sum(p.stat().st_size for p in (workdir / "logs").rglob("*") if p.is_file())
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(scratch, ignore_errors=True)

    worker = max(samples[-1]["rss_mb"], key=samples[-1]["rss_mb"].get)  # the model-holding process
    series = [(s["minute"], s["rss_mb"].get(worker)) for s in samples if s["rss_mb"].get(worker) is not None]
    warm = [(m, r) for m, r in series if m >= args.warmup_min]
    minutes, rss = np.array([m for m, _ in warm]), np.array([r for _, r in warm])
    slope = float(np.polyfit(minutes, rss, 1)[0] * 60) if len(warm) >= 2 else None
    report = stamped(
        {
            "commit": commit,
            "minutes": args.minutes,
            "clients": args.clients,
            "requests": sum(statuses.values()),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "requests_per_second": round(sum(statuses.values()) / (args.minutes * 60), 1),
            "worker": worker,
            "worker_rss_mb": {
                "start": round(series[0][1], 1),
                "after_warmup": round(float(rss[0]), 1) if len(rss) else None,
                "end": round(series[-1][1], 1),
                "max": round(max(r for _, r in series), 1),
            },
            "growth_after_warmup_mb": round(float(rss[-1] - rss[0]), 1) if len(rss) else None,
            "slope_after_warmup_mb_per_hour": round(slope, 1) if slope is not None else None,
            "answer_log_bytes": log_bytes,
            "samples": [{"minute": m, "worker_rss_mb": round(r, 1)} for m, r in series],
            **({"machine": args.machine} if args.machine else {}),
        }
    )
    write_json(REPO / "reports/soak.json", report)
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
