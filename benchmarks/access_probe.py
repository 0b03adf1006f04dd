"""A bank's security review, replayed against a served bento with API keys on: who gets answered,
what hostile requests do, and what a full disk does.

The bento is built from this checkout and the repo's trained model (run ``dvc repro`` first) into a
scratch BentoML home and served by ``bentoml serve`` with ``GENRE_API_KEYS`` naming a key file, from
a scratch folder whose ``logs/`` (the answer log) is a small tmpfs when this runs as root (else
today's log file is pointed at ``/dev/full``, which fails writes the same way but leaves the disk
with room, so readiness cannot see it). Then:

* requests without a key, with wrong keys (random, and well-formed with a guessed id), with a
  revoked key: none may be answered;
* a key with a rate of 30 applicants a minute sends 60 single requests: the rest get 429;
* with a good key: bodies nested 1,000 deep, a body over the size limit, 3,000 random paths (the
  size of ``/metrics`` before and after), clients that disconnect mid-body, and 100 connections
  that send half their headers and hold them (how long the server keeps them, and whether a
  normal request is answered meanwhile);
* the answer log's disk filled: answers refused with 503 and readiness failing, no torn line; the
  disk freed: ready and answering again.

Every response's status is counted; ``status_5xx`` counts those outside the full-disk phase,
whose 503s are the documented choice (docs/serving.md) and are reported apart.

Usage: ``python benchmarks/access_probe.py`` (as root for the tmpfs). Writes ``reports/access.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from genre.artifacts.atomic import write_json
from research.local_server import build, held_out_applicants, serve_with_keys, stop
from research.provenance import stamped

REPO = Path(__file__).resolve().parents[1]
READY_WITHIN_S = 300
LOG_DISK_BYTES = 4 << 20  # the tmpfs the answer log lives on
SLOW_CLIENTS = 100
HOLD_S = 40  # how long the slow-header clients try to hold their connections


def post(http: httpx.Client, statuses: Counter[int], path: str, **kwargs: Any) -> httpx.Response:
    response = http.post(path, **kwargs)
    statuses[response.status_code] += 1
    return response


def raw(port: int, data: bytes, read: bool = True) -> bytes:
    """``data`` sent on a fresh connection; -> what came back before it closed (or nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        if not read:
            return b""
        back = b""
        while chunk := conn.recv(65536):
            back += chunk
        return back


def slow_headers(port: int, http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """``SLOW_CLIENTS`` connections that send half their headers and wait: how many the server
    still holds after ``HOLD_S``, and whether a normal request is answered while they wait."""
    conns = []
    for _ in range(SLOW_CLIENTS):
        conn = socket.create_connection(("127.0.0.1", port), timeout=HOLD_S + 10)
        conn.sendall(b"POST /recourse HTTP/1.1\r\nHost: x\r\n")
        conns.append(conn)
    started = time.monotonic()
    answered = http.post("/recourse", json=body)
    latency = time.monotonic() - started
    time.sleep(max(0.0, HOLD_S - (time.monotonic() - started)))
    held = 0
    for conn in conns:
        conn.setblocking(False)
        try:
            held += conn.recv(1) != b""  # b"": the server closed it
        except BlockingIOError:
            held += 1  # nothing to read: still open
        except OSError:
            pass
        conn.close()
    return {
        "connections": SLOW_CLIENTS,
        "held_after_s": HOLD_S,
        "still_open": held,
        "normal_request_status": answered.status_code,
        "normal_request_seconds": round(latency, 3),
    }


def full_disk(folder: Path, mounted: bool, http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """The answer log's disk filled (a filler file on the tmpfs, or today's file at /dev/full), then freed."""
    from genre.serving.answer_log import log_files

    day = time.strftime("%Y-%m-%d", time.gmtime())
    today = folder / f"answers-{day}.jsonl"
    filler = folder.parent / "filler"
    if mounted:
        free = shutil.disk_usage(folder).free
        with filler.open("wb") as out:
            try:
                out.write(b"x" * (free - 200))  # leave less than one answer's line
            except OSError:
                pass
    else:
        kept = today.with_suffix(".kept")
        if today.exists():
            today.rename(kept)
        today.symlink_to("/dev/full")
    lines_before = sum(len(p.read_bytes().splitlines()) for p in log_files(folder) if not p.is_symlink())
    refused = Counter(http.post("/recourse", json=body).status_code for _ in range(20))
    ready_while_full = http.get("/readyz").status_code
    whole = all(
        line.endswith(b"}") for p in log_files(folder) if not p.is_symlink() for line in p.read_bytes().splitlines()
    )
    if mounted:
        filler.unlink()
    else:
        today.unlink()
        if kept.exists():
            kept.rename(today)
    time.sleep(0.5)
    after = http.post("/recourse", json=body).status_code
    lines_after = sum(len(p.read_bytes().splitlines()) for p in log_files(folder))
    return {
        "how": "tmpfs filled" if mounted else "today's file at /dev/full",
        "statuses_while_full": dict(refused),
        "readyz_while_full": ready_while_full,
        "every_line_whole": whole,
        "readyz_after": http.get("/readyz").status_code,
        "answer_after": after,
        "lines_recorded_while_full": lines_after - lines_before - (after == 200),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-paths", type=int, default=3000)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="genre-access-"))
    home, workdir = scratch / "bentoml", scratch / "served"
    (workdir / "logs").mkdir(parents=True)
    os.environ["BENTOML_HOME"] = str(home)  # before BentoML first reads it, in this process
    mounted = False
    server = None
    try:
        from genre.offline import go_offline
        from genre.serving.keys import add_key, revoke_key
        from genre.settings import load_settings

        go_offline()
        settings = load_settings(REPO / "params.yaml")
        bento, _, _ = build(settings)
        if os.geteuid() == 0:
            mounted = (
                subprocess.run(
                    ["mount", "-t", "tmpfs", "-o", f"size={LOG_DISK_BYTES}", "tmpfs", str(workdir / "logs")],
                    capture_output=True,
                ).returncode
                == 0
            )
        keys = scratch / "api-keys.json"
        good = add_key(keys, "reviewer", None, None)
        limited = add_key(keys, "limited", per_minute=30, per_day=None)
        revoked = add_key(keys, "former", None, None)
        revoke_key(keys, "former")
        server, url = serve_with_keys(bento, home, workdir, keys, scratch / "serve.log", READY_WITHIN_S)
        port = int(url.rsplit(":", 1)[1])
        [applicant] = held_out_applicants(1)
        body = {"applicant": applicant}
        statuses: Counter[int] = Counter()
        report: dict[str, Any] = {}
        with httpx.Client(base_url=url, timeout=120) as anyone:
            answered = [post(anyone, statuses, "/recourse", json=body).status_code for _ in range(50)]
            answered += [post(anyone, statuses, "/recourse_batch", json={"applicants": [applicant]}).status_code]
            report |= {"requests_without_key": len(answered), "answered_without_key": answered.count(200)}
            wrong = [secrets.token_urlsafe(32), f"genre_{good.split('_')[1]}_{secrets.token_urlsafe(32)}", "Bearer"]
            answered = [
                post(anyone, statuses, "/recourse", json=body, headers={"authorization": f"Bearer {key}"}).status_code
                for key in wrong * 20
            ]
            report |= {"requests_wrong_key": len(answered), "answered_wrong_key": answered.count(200)}
            answered = [
                post(anyone, statuses, "/recourse", json=body, headers={"x-api-key": revoked}).status_code
                for _ in range(20)
            ]
            report |= {
                "requests_revoked_key": len(answered),
                "answered_revoked_key": answered.count(200),
                "revoked_403": answered.count(403),
            }
            rated = [post(anyone, statuses, "/recourse", json=body, headers={"x-api-key": limited}) for _ in range(60)]
            report |= {
                "rate_limited_requests": len(rated),
                "rate_limited_answered": sum(r.status_code == 200 for r in rated),
                "rate_limited_429": sum(r.status_code == 429 for r in rated),
                "retry_after_given": all("retry-after" in r.headers for r in rated if r.status_code == 429),
            }
        with httpx.Client(base_url=url, timeout=120, headers={"authorization": f"Bearer {good}"}) as http:
            deep = b'{"applicant": ' + b"[" * 1000 + b"]" * 1000 + b"}"
            started = time.monotonic()
            nested = post(http, statuses, "/recourse", content=deep, headers={"content-type": "application/json"})
            report["deep_nesting"] = {
                "status": nested.status_code,
                "seconds": round(time.monotonic() - started, 3),
            }
            large = post(http, statuses, "/recourse_batch", json={"applicants": [applicant] * 40_000})
            report["oversized_body_status"] = large.status_code
            before = len(http.get("/metrics").content)
            for _ in range(args.random_paths):
                statuses[http.get(f"/{secrets.token_hex(8)}").status_code] += 1
            started = time.monotonic()
            scrape = http.get("/metrics")
            report["random_paths"] = {
                "requests": args.random_paths,
                "metrics_bytes_before": before,
                "metrics_bytes_after": len(scrape.content),
                "scrape_seconds": round(time.monotonic() - started, 3),
            }
            head = (
                f"POST /recourse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {good}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            ).encode()
            for _ in range(50):
                raw(port, head + b'{"applicant": {', read=False)
            time.sleep(1)
            report["disconnects_mid_body"] = 50
            report["slow_headers"] = slow_headers(port, http, body)
            statuses[report["slow_headers"]["normal_request_status"]] += 1
            report["answer_with_key"] = post(http, statuses, "/recourse", json=body).status_code
            report["full_disk"] = full_disk(workdir / "logs/answers", mounted, http, body)
        log = (scratch / "serve.log").read_text(errors="replace")
        report |= {
            "status_5xx": sum(n for status, n in statuses.items() if status >= 500),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "tracebacks_in_server_log": log.count("Traceback"),
            "server_log_errors": log.count("[ERROR]"),
        }
    finally:
        if server is not None:
            stop(server)
        if mounted:
            subprocess.run(["umount", str(workdir / "logs")], check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    write_json(REPO / "reports/access.json", stamped(report))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
