"""The orchestration wiring: DVC stages, Prefect flows and the retraining schedule agree."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from prefect.settings import get_current_settings

from flows.pipeline import STAGES
from flows.schedule import deployment
from flows.stage import without_heartbeats

REPO = Path(__file__).resolve().parents[2]


def test_each_dvc_stage_runs_its_own_flow_in_pipeline_order() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert [s.replace("_", "-") for s in stages] == [flow.name for flow in STAGES]
    for name, stage in stages.items():
        assert stage["cmd"] == f"python -m flows.{name}"
        module = importlib.import_module(f"flows.{name}")
        assert getattr(module, f"{name}_flow").name == name.replace("_", "-")
        assert f"genre/stages/{name}.py" in stage["deps"], "each stage depends on its library module"


def test_retraining_deployment_uses_the_cron_from_params() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    built = deployment(str(REPO / "params.yaml"))
    assert built.name == params["schedule"]["deployment_name"]
    assert [s.schedule.cron for s in built.schedules] == [params["schedule"]["cron"]]
    assert built.parameters == {"params": str(REPO / "params.yaml")}


def test_stage_runs_beat_no_heart_unless_the_user_sets_the_frequency(monkeypatch: pytest.MonkeyPatch) -> None:
    """A heartbeat thread costs each stage's run about a second at its end (see without_heartbeats)."""
    for name in ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"):
        monkeypatch.delenv(name, raising=False)
    default = get_current_settings().flows.heartbeat_frequency
    assert default is not None
    with without_heartbeats():
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == default
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60")
    with without_heartbeats():
        assert get_current_settings().flows.heartbeat_frequency == default  # the user's, as Prefect read it
