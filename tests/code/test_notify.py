"""Someone hears: a retraining run's decision is POSTed to retrain.notify, a webhook that cannot be
reached changes nothing, and each outcome is a state and an exit code of its own."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flows import retrain as retrain_flow
from flows import stage
from genre.retraining.notify import announce
from genre.settings import IngestSettings, RetrainSettings, Settings, SettingsError, load_settings

DECISION = {
    "decision": "refused",
    "reason": "failed: score not below the champion's",
    "champion": "genre-recourse:old",
    "challenger": "genre-recourse:new",
    "batches": [{"file": "2026-01-05.csv", "verdict": "accepted"}, {"file": "x.csv.gz", "verdict": "quarantined"}],
    "set_aside": ["data/refused/20260105T030000.000000Z-2026-01-05.csv"],
    "path": "registry/decisions/20260105T030000.000000Z.json",
}


@pytest.fixture
def receiver():
    """A local webhook: -> (its URL, the bodies it received)."""
    bodies: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/secret-token", bodies
    server.shutdown()


def test_the_decision_reaches_the_webhook_with_its_summary(receiver) -> None:
    url, bodies = receiver
    line = announce(url, "/srv/lender", DECISION, "http://prefect.local/runs/flow-run/1")
    assert line.startswith("notified 127.0.0.1:") and line.endswith("HTTP 204") and "secret-token" not in line
    [body] = bodies
    assert body["decision"] == "refused" and body["record"] == DECISION["path"]
    assert body["flow_run"] == "http://prefect.local/runs/flow-run/1"
    assert body["summary"] == (
        "genre retraining in /srv/lender: refused genre-recourse:new: failed: score not below the champion's; "
        "quarantined: x.csv.gz"
    )


def test_an_unreachable_webhook_is_said_not_raised() -> None:
    dead = "http://127.0.0.1:9/hook"  # the discard port: nothing listens
    assert announce(dead, "/srv/lender", DECISION, None).startswith("could not notify 127.0.0.1:9: ")


def test_only_a_web_address_is_a_webhook(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(
        "ingest:\n  train_csv: t.csv\n  schema_path: s.yaml\nretrain:\n  notify: file:///etc/passwd\n"
    )
    with pytest.raises(SettingsError, match="retrain.notify: .*http:// or https://"):
        load_settings(tmp_path / "params.yaml")


@pytest.mark.parametrize(
    ("decision", "quarantined", "state", "failed", "code"),
    [
        ("promoted", False, "Promoted", False, 0),
        ("promoted", True, "Quarantined", False, 0),
        ("unchanged", False, "Unchanged", False, 0),
        ("refused", True, "Refused", True, 3),
        ("stopped", False, "Held", True, 4),
        ("failed", False, "Failed", True, 5),
    ],
)
def test_each_outcome_is_a_state_and_an_exit_code_of_its_own(
    receiver, decision: str, quarantined: bool, state: str, failed: bool, code: int
) -> None:
    url, bodies = receiver
    settings = Settings(
        root=Path("/srv/lender"),
        ingest=IngestSettings(train_csv=Path("t.csv"), schema_path=Path("s.yaml")),
        retrain=RetrainSettings(notify=url),
    )
    batches = [{"file": "x.csv", "verdict": "quarantined" if quarantined else "accepted"}]
    ended = retrain_flow.outcome(settings, {**DECISION, "decision": decision, "batches": batches})
    assert (ended.name, ended.is_failed(), stage._exit_code[-1]) == (state, failed, code)
    assert bodies[-1]["decision"] == decision
