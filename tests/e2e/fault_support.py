"""Real faults for tests/e2e/test_faults.py: a redis-server of the test's own to kill and restart, a
submission from a process of its own (so it publishes to that broker), the worker log (when a fault has
bitten, and figures), and the database seen from outside the service (a second connection, as an operator's
psql or sqlite3 would be)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from planner.management.live_stack import free_port
from tests.conftest import ROOT, WorkerProcess, wait_for

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class PrivateRedis:
    """A redis-server on a free port that only this test uses, without persistence (`--save ''
    --appendonly no`): SIGKILL and a restart lose every message it held, queued or unacknowledged, as a
    crashed broker without a disk would. The shared Redis of the suite is never touched."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.folder),
        ]  # fmt: skip
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_for(self.ping, timeout=30, message=f"redis-server on {self.port} did not answer")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def ping(self) -> bool:
        import redis

        try:
            return bool(self.client().ping())
        except redis.exceptions.ConnectionError:
            return False

    def messages(self, queue: str) -> int:
        """Messages waiting in `queue` (kombu keeps one list per priority step, all named after it)."""
        client = self.client()
        return sum(
            client.llen(key) for key in client.scan_iter(match=f"{queue}*") if client.type(key) == b"list"
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()


SUBMIT_SCRIPT = """
import sys
import django

django.setup()
from django.contrib.auth import get_user_model
from planner.models import Team
from tests.e2e.comparison_support import submit

print(submit(get_user_model().objects.get(pk=int(sys.argv[1])), Team.objects.get(pk=int(sys.argv[2]))))
"""


def submit_from_process(env: dict[str, str], user, team) -> int:
    """POST the comparison through the API in a Python process of its own started with `env`, as a web
    process configured with that broker would; this process's Celery app keeps the mode's broker."""
    done = subprocess.run(
        [sys.executable, "-c", SUBMIT_SCRIPT, str(user.pk), str(team.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return int(done.stdout.strip().splitlines()[-1])


def _log_lines(worker: WorkerProcess) -> list[str]:
    try:
        return worker.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []


def log_count(worker: WorkerProcess, text: str, *more: str) -> int:
    """How many lines of the worker's log contain `text` (and each of `more`): when a fault has bitten (a
    write the database refused leaves no row to read) and the retry figures of a FAULT line; outcomes are
    read from the rows."""
    texts = (text, *more)
    return sum(all(t in line for t in texts) for line in _log_lines(worker))


def reaper_resent_messages(worker: WorkerProcess) -> int:
    """Chunk messages the worker's comparison reaper sent again, duplicates included (its "comparison
    reaper: {...}" lines), for a FAULT line's figures."""
    return sum(
        int(line.split("'resent': ")[1].split(",")[0])
        for line in _log_lines(worker)
        if "comparison reaper:" in line and "'resent': " in line
    )


def postgres_connect(settings_dict: dict, **kwargs):
    """A psycopg connection to the test database of its own, outside Django."""
    import psycopg

    params = {
        "dbname": settings_dict["NAME"],
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v is not None}, **kwargs)


def sqlite_connect(settings_dict: dict) -> sqlite3.Connection:
    """An sqlite3 connection to the test database file of its own, in autocommit mode (BEGIN is explicit)."""
    return sqlite3.connect(settings_dict["NAME"], isolation_level=None, timeout=60)
