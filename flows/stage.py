"""What every stage flow shares: reading the settings and running one library stage.

DVC calls ``python -m flows.<stage> [params.yaml]``; scheduled retraining calls the same flows as
subflows of ``flows.pipeline``, so both paths run identical code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from prefect import Flow, flow

from genre.offline import go_offline
from genre.settings import Settings, load_settings


def stage_flow(name: str, run: Callable[[Settings], dict[str, Any]]) -> Flow[[str], dict[str, Any]]:
    @flow(name=name, log_prints=True, description=sys.modules[run.__module__].__doc__)
    def stage(params: str = "params.yaml") -> dict[str, Any]:
        return run(load_settings(params))

    return stage


def main(stage: Flow[[str], Any]) -> None:
    """Entry point: ``python -m flows.<stage> [params.yaml]``."""
    go_offline()
    stage(*sys.argv[1:2])
