"""Who is acting, for the records an auditor reads: the login name and the machine."""

from __future__ import annotations

import getpass
import socket


def who() -> str:
    """``user@host`` of this process (``unknown`` for a user with no login name, as in some containers)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
