"""Someone hears: each unattended run's decision, POSTed as JSON to the webhook ``retrain.notify``
names (a chat's incoming webhook, an alerting service, a ticket queue).

The body carries the decision's one-line summary, the batches and their verdicts, where the
record is, and the Prefect flow run. A webhook that cannot be reached does not change the decision
or fail the run: the run says so in its log, and the record on disk stays the authority.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from genre.messages import one_line
from genre.retraining.backup import FAILED as BACKUP_FAILED

TIMEOUT_S = 10.0


def summary(project: str, decision: dict[str, Any]) -> str:
    """One line: what the run decided, about which model, and why."""
    model = decision.get("challenger") or ""
    quarantined = [b["file"] for b in decision.get("batches", []) if b.get("verdict") == "quarantined"]
    extra = f"; quarantined: {', '.join(quarantined)}" if quarantined else ""
    if str(decision.get("backup", "")).startswith(BACKUP_FAILED):
        extra += f"; {decision['backup']}"
    return one_line(f"genre retraining in {project}: {decision['decision']} {model}: {decision['reason']}{extra}", 500)


def announce(url: str, project: str, decision: dict[str, Any], flow_run: str | None) -> str:
    """POST the decision to ``url``; -> a line for the run's log (the host only: a webhook's path
    often holds its secret)."""
    body = {
        "summary": summary(project, decision),
        "decision": decision["decision"],
        "reason": decision["reason"],
        "champion": decision.get("champion"),
        "challenger": decision.get("challenger"),
        "batches": [{"file": b["file"], "verdict": b["verdict"]} for b in decision.get("batches", [])],
        "set_aside": decision.get("set_aside", []),
        "record": decision.get("path"),
        "flow_run": flow_run,
        "project": project,
    }
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    host = urlsplit(url).netloc or url
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # http(s) only: RetrainSettings
            return f"notified {host}: HTTP {answer.status}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"could not notify {host}: {one_line(str(exc), 200)}"
