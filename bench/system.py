"""`elms up` as a user runs it, for the tests and the fault-injection suite that need the whole
system as processes: a fresh data directory, free ports, and a token from `elms token`."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from elms.core.config import SERVICES

STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Running:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str) -> str:
        """Block until the process prints a line containing `text` (bounded)."""
        while True:
            line = self.lines.get(timeout=STARTUP_SECONDS)
            self.seen.append(line)
            if text in line:
                return line

    def printed(self) -> list[str]:
        """Every line printed so far, those not yet waited for included."""
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen


@contextmanager
def elms_up(env: dict[str, str], stderr: IO[str] | int = subprocess.DEVNULL) -> Iterator[Running]:
    process = subprocess.Popen(
        [sys.executable, "-m", "elms", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    running = Running(process)
    try:
        running.wait_for("ELMS is running")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def token(env: dict[str, str], *args: str) -> str:
    """A token from `elms token`, as a user gets one."""
    minted = subprocess.run(
        [sys.executable, "-m", "elms", "token", *(args or ("--sub", "e2e", "--role", "ADMIN"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return minted.stdout.strip().splitlines()[-1]


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a fresh system: no ELMS_ variable of the caller's, free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELMS_")}
    env.update(ELMS_DATA_DIR=str(data_dir), ELMS_LOG_LEVEL="WARNING", **settings)
    for service in SERVICES:
        env[f"ELMS_{service.upper()}_PORT"] = str(free_port())
    return env


def admin_url(data_dir: Path) -> str:
    """The embedded PostgreSQL's administrator, over its socket in the data directory."""
    return f"postgresql://postgres@/postgres?host={data_dir / 'pgdata'}"


def reconcile(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`elms reconcile` on the system of `env`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "elms", "reconcile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
