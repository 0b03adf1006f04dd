"""Run-time switches that keep every tool offline and silent.

Called explicitly at the start of each entry point (flows, CLI, service) rather than on import, so
importing the library has no side effects; ``setdefault`` leaves a user's own choice in force.
"""

from __future__ import annotations

import os

_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
}


def go_offline() -> None:
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
