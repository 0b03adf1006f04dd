"""Child processes that must not outlive the process that started them.

A server's worker or helper that survives its parent keeps its port and memory with nobody left
to stop it: ``kill -9`` of ``bentoml serve`` used to leave the worker listening, so a restart on
the same port failed. On Linux the kernel can deliver a signal to a process when its parent dies,
however the parent dies; elsewhere this is a no-op and a parent's normal shutdown is relied on.
"""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """Ask the kernel to send this process SIGTERM when its parent exits (Linux only)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
