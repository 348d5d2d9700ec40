"""Shared fixtures, above all a REAL Celery worker subprocess for end-to-end tests.

How a test gets a worker:

    @pytest.mark.django_db(transaction=True)
    def test_something(live_worker):          # one worker per test module, already beating
        ...enqueue, then poll the database...

    def test_crash(live_worker_factory):      # workers of its own, stopped at the end of the test
        worker = live_worker_factory(name="victim", pool="prefork", concurrency=1)
        worker.kill()                           # SIGKILL the worker's whole process group

The worker runs with DJANGO_SETTINGS_MODULE=config.settings_test (its own queue, its own broker folder in
embedded mode) and PLANNER_DB_NAME_OVERRIDE set to the test database's NAME, i.e. var/test_db.sqlite3 on
SQLite or test_<name> on PostgreSQL, so it writes where the test reads. Tests that use a worker need
transaction=True: the worker commits in another connection and the test must see those commits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKER_LOG_DIR = ROOT / "test-artifacts" / "workers"
WORKER_START_TIMEOUT_S = 60.0


@dataclass
class WorkerProcess:
    """A `celery -A config worker` subprocess in its own process group."""

    hostname: str
    process: subprocess.Popen
    log_path: Path
    command: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_until_beating(self, timeout: float = WORKER_START_TIMEOUT_S) -> None:
        """Block until this worker's heartbeat row is visible to the calling test's connection."""
        from django.db import close_old_connections

        from planner.heartbeat import live_workers

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_alive():
                raise RuntimeError(
                    f"worker {self.hostname} exited ({self.process.returncode}):\n{self.log_tail()}"
                )
            close_old_connections()
            if live_workers().filter(hostname=self.hostname).exists():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker {self.hostname} wrote no heartbeat in {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (Celery warm shutdown), then SIGKILL the group if it does not exit in time."""
        if self.is_alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self._kill_group()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (simulates a crash or OOM kill)."""
        self._kill_group()

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def live_worker_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for worker subprocesses: same settings, broker and (test) database as this process."""
    from django.conf import settings
    from django.db import connection

    from config.celery import app, ensure_broker_folders

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"]
    env["PLANNER_DB_NAME_OVERRIDE"] = str(connection.settings_dict["NAME"])
    env["PLANNER_WORKER_HEARTBEAT_S"] = "0.5"
    env["PYTHONUNBUFFERED"] = "1"
    # Messages left over from an interrupted earlier run must not reach this run's workers.
    if app.conf.broker_url.startswith("filesystem://"):
        shutil.rmtree(settings.BROKER_DIR, ignore_errors=True)
        ensure_broker_folders()
    else:
        with django_db_blocker.unblock():
            app.control.purge()
    return env


def start_worker(
    env: dict[str, str],
    *,
    name: str | None = None,
    pool: str = "prefork",
    concurrency: int = 1,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> WorkerProcess:
    """Start a worker subprocess; returns once the process is spawned (see wait_until_beating)."""
    hostname = f"{name or 'test'}-{uuid.uuid4().hex[:8]}@localhost"
    WORKER_LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = WORKER_LOG_DIR / f"{hostname.split('@')[0]}.log"
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        f"--pool={pool}", f"--concurrency={concurrency}", "--loglevel=INFO", f"--hostname={hostname}",
        "--without-gossip", "--without-mingle", "--without-heartbeat", *extra_args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return WorkerProcess(hostname=hostname, process=process, log_path=log_path, command=command)


@pytest.fixture(scope="module")
def live_worker_process(live_worker_env, django_db_blocker) -> Iterator[WorkerProcess]:
    """One real worker per test module; use `live_worker` in tests (it also waits for the heartbeat)."""
    worker = start_worker(live_worker_env, name=f"mod{os.getpid()}")
    try:
        with django_db_blocker.unblock():
            worker.wait_until_beating()
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def live_worker(live_worker_process, transactional_db) -> WorkerProcess:
    """The module's worker, with its heartbeat visible (transactional tests flush rows between tests)."""
    live_worker_process.wait_until_beating()
    return live_worker_process


@pytest.fixture
def live_worker_factory(live_worker_env, transactional_db) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers with custom options inside one test; all are stopped when the test ends."""
    started: list[WorkerProcess] = []

    def factory(*, wait: bool = True, **kwargs) -> WorkerProcess:
        worker = start_worker(live_worker_env, **kwargs)
        started.append(worker)
        if wait:
            worker.wait_until_beating()
        return worker

    yield factory
    for worker in started:
        worker.stop()


def wait_for(
    predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.2, message: str = ""
):
    """Poll until predicate() is truthy (closing stale DB connections between polls); return its value."""
    from django.db import close_old_connections

    deadline = time.monotonic() + timeout
    while True:
        close_old_connections()
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(message or f"condition not met within {timeout:.0f}s")
        time.sleep(interval)


@pytest.fixture
def poll() -> Callable[..., object]:
    """The wait_for helper as a fixture, so test modules need not import conftest."""
    return wait_for
