"""Where a benchmark's figures came from: the commit and the machine, written into every report so
a figure quoted in the docs can name both."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def head_commit() -> str:
    """This checkout's commit, short (``unknown`` outside git)."""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def machine() -> str:
    """The CPU model and core count: timings and their ratios depend on both."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return f"{models[0] if models else platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def stamped(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with the commit and the machine, unless it names them already (a long run names
    the commit it started from: the checkout may move on while it runs)."""
    return {**report, "commit": report.get("commit") or head_commit(), "machine": report.get("machine") or machine()}
