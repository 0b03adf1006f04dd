"""The shared local Prefect server: started once, reused by every process, never left behind.

Real servers in a scratch Prefect home (about 30 s: a new home's database is created first).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flows.server import SharedServer, is_alive, is_healthy

CLIENT = """
import sys, time
from pathlib import Path
from flows.server import SharedServer
with SharedServer(Path(sys.argv[1]), idle_seconds=2).client(600) as url:
    print(url, flush=True)
    time.sleep(600)
"""


def _gone_within(seconds: float, pid: int, url: str) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not is_alive(pid) and not is_healthy(url):
            return True
        time.sleep(0.5)
    return False


def test_one_server_is_shared_and_stops_once_its_clients_are_gone_even_killed(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "PREFECT_API_URL")}
    other = subprocess.Popen([sys.executable, "-c", CLIENT, str(home)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        first_url = other.stdout.readline().strip()  # the other process started the server and uses it
        shared = SharedServer(home, idle_seconds=2)
        watchdog = shared.read().pid
        with shared.client(600) as url:
            assert url == first_url and is_healthy(url), "a second process reuses the running server"
            assert shared.read().pid == watchdog
        time.sleep(4)
        assert is_healthy(url), "the server stays up while any process still uses it"
        other.send_signal(signal.SIGKILL)  # its registration is never removed: the watchdog must notice
        other.wait()
        assert (home / "prefect.db").is_file(), "the server keeps its database in the home it serves"
        assert _gone_within(300, watchdog, url), "the server stops once no process that used it is alive"
        assert shared.read() is None
    finally:
        other.kill()
        SharedServer(home).stop()
