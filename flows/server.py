"""The Prefect API the flows report to: the user's own server, or one local server they all share.

Where ``PREFECT_API_URL`` is set, flows use that server and nothing is started. Otherwise Prefect
would start a temporary server inside every process (seconds each, and on a busy machine it gives
up after ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``), so a ``dvc repro`` of six stages
paid for six. Instead, the first process that needs one starts a local server on a free loopback
port, and later processes (the next DVC stage, the scheduler, a test's pipeline) find it through a
small state folder in ``PREFECT_HOME`` and use it. A watchdog process owns the server and stops it
once no process that uses it has been alive for ``IDLE_SECONDS``, so nothing is left running after
the last stage, even one killed with -9.

Each client registers its pid under ``clients/`` while it uses the server; the watchdog checks
those pids. Starting, registering and the watchdog's decision to stop all happen under one file
lock, so a client never picks a server that is about to stop.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import psutil

from genre.processes import die_with_parent

IDLE_SECONDS = 120.0  # how long the server outlives its last client: longer than any gap between DVC stages
DEFAULT_START_TIMEOUT_S = 600.0  # a first start migrates a new database, tens of seconds on a small machine
_POLL_S = 0.25


class Running(NamedTuple):
    """What ``server.json`` records: the watchdog that owns the server, and the server's API URL."""

    pid: int
    url: str


class SharedServer:
    """The state folder of the shared server under a Prefect home."""

    def __init__(self, prefect_home: Path, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self.folder = Path(prefect_home).expanduser() / "genre-server"
        self.clients = self.folder / "clients"
        self.state = self.folder / "server.json"
        self.log = self.folder / "server.log"

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.clients.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self) -> Running | None:
        try:
            return Running(**json.loads(self.state.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def live_clients(self) -> list[int]:
        """Pids of registered clients still alive; the registrations of dead ones are dropped."""
        alive = []
        for entry in self.clients.iterdir():
            pid = int(entry.name) if entry.name.isdigit() else -1
            if is_alive(pid):
                alive.append(pid)
            else:
                entry.unlink(missing_ok=True)
        return alive

    @contextmanager
    def client(self, start_timeout: float, while_starting: Callable[[], None] = lambda: None) -> Iterator[str]:
        """Register this process, start the server unless one is up, and yield its API URL once it
        answers; ``while_starting`` runs meanwhile (a new server takes seconds to answer)."""
        registration = self.clients / str(os.getpid())
        with self.locked():
            registration.write_text("")
            running = self.read()
            if running is None or not is_alive(running.pid):
                running = self._start()
        try:
            while_starting()
            _wait_healthy(running.url, running.pid, start_timeout, self.log)
            yield running.url
        finally:
            registration.unlink(missing_ok=True)

    def _start(self) -> Running:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # The server keeps its database in this Prefect home, whatever the calling process's environment says.
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.folder.parent),
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        with open(self.log, "ab") as log:
            watchdog = subprocess.Popen(
                [sys.executable, "-m", "flows.server", str(self.folder.parent), str(port), str(self.idle_seconds)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        running = Running(watchdog.pid, f"http://127.0.0.1:{port}/api")
        self.state.write_text(json.dumps(running._asdict()))
        return running

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the shared server now and wait until it has (the watchdog stops it by itself once
        idle), so its Prefect home can be removed right after."""
        with self.locked():
            running = self.read()
            self.state.unlink(missing_ok=True)
        if running is None:
            return
        if is_alive(running.pid):
            os.kill(running.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while is_alive(running.pid) and time.monotonic() < deadline:
            time.sleep(_POLL_S)


@contextmanager
def prefect_api(while_starting: Callable[[], None] = lambda: None) -> Iterator[str]:
    """The Prefect API this process's flows report to, for as long as the block runs;
    ``while_starting`` runs before the first flow can, while a local server starts."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        while_starting()
        yield configured
        return
    # Prefect's own setting for how long to wait for a server, with a default that suits a busy machine.
    timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", DEFAULT_START_TIMEOUT_S))
    with (
        SharedServer(PREFECT_HOME.value()).client(timeout, while_starting) as url,
        temporary_settings(updates={PREFECT_API_URL: url}),
    ):
        yield url


def is_alive(pid: int) -> bool:
    """A process that exited but was not yet reaped by its parent (a zombie) counts as gone."""
    try:
        return pid > 0 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_healthy(url: str, pid: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not is_healthy(url):
        if not is_alive(pid):
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"the local Prefect server for {url} stopped while starting; its log ({log}) ends:\n{tail}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the local Prefect server at {url} did not answer within {timeout:.0f} s "
                f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); its log is {log}"
            )
        time.sleep(_POLL_S)


def watch(prefect_home: Path, port: int, idle_seconds: float) -> None:
    """The watchdog: run ``prefect server start`` until no client has been alive for ``idle_seconds``."""
    shared = SharedServer(prefect_home)
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        preexec_fn=die_with_parent,  # noqa: PLW1509 (the watchdog starts no threads) the server gets SIGTERM if its watchdog dies
    )
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    last_seen = time.monotonic()
    while server.poll() is None:
        time.sleep(1.0)
        with shared.locked():
            if shared.live_clients():
                last_seen = time.monotonic()
            elif time.monotonic() - last_seen > idle_seconds:
                running = shared.read()
                if running is not None and running.pid == os.getpid():
                    shared.state.unlink()
                break
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


if __name__ == "__main__":
    watch(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
