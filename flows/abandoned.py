"""Runs that died without telling Prefect: a process killed with -9 leaves its flow run RUNNING
forever on the server. Every run of a project carries the project's tag; before a run starts, with
the project's run lock held (so no live run of the project can be among them), the project's runs
still marked RUNNING are marked Crashed, saying why."""

from __future__ import annotations

import hashlib
from pathlib import Path

ABANDONED = "its process ended without reporting (killed); found by the next run of the project"


def project_tag(root: Path) -> str:
    """The tag every flow run of the project at ``root`` carries."""
    return "genre-project-" + hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:12]


def close_abandoned(tag: str) -> int:
    """Mark the RUNNING flow runs tagged ``tag`` Crashed; -> how many. Call only with the run lock held."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    running = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
        tags=FlowRunFilterTags(all_=[tag]),
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=running)
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(message=ABANDONED), force=True)
    return len(runs)
