"""A running copy of the service for the fuzz and load commands: gunicorn on a free loopback port plus one
real Celery worker, both pointed at the configured database and broker, and a few known actors.

Used by `manage.py fuzz_api` and `manage.py loadtest`; both talk to the service over HTTP only, so what they
measure is what a client sees (middleware, auth, throttles, serialisation, the database, the broker).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

LOG_DIR = Path(settings.BASE_DIR) / "test-artifacts" / "hardening"
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Actors:
    """Known callers and objects in the target database (created once, reused on later runs)."""

    editor_token: str
    team_id: int
    plan_id: int
    viewer_user_id: int


def ensure_actors(prefix: str = "hardening") -> Actors:
    """Seed the catalog and create an editor (with a token) in a team that has an admin and a viewer,
    and one team-visible plan. Refuses production settings: these are throwaway accounts."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from planner.models import Membership, Plan, Role, Team
    from planner.services import plans, teams

    if settings.PRODUCTION:
        raise CommandError("refusing to create test accounts with DJANGO_ENV=production")
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_catalog", verbosity=0)
    User = get_user_model()
    admin, _ = User.objects.get_or_create(username=f"{prefix}-admin")
    editor, _ = User.objects.get_or_create(username=f"{prefix}-editor")
    viewer, _ = User.objects.get_or_create(username=f"{prefix}-viewer")
    team = Team.objects.filter(slug=prefix).first()
    if team is None:
        team = teams.team_create(user=admin, name=prefix.title(), slug=prefix)
    Membership.objects.update_or_create(team=team, user=editor, defaults={"role": Role.EDITOR})
    Membership.objects.update_or_create(team=team, user=viewer, defaults={"role": Role.VIEWER})
    plan = Plan.objects.filter(team=team, name=f"{prefix} plan").first()
    if plan is None:
        plan = plans.plan_create(
            user=editor,
            team=team,
            name=f"{prefix} plan",
            visibility=Plan.Visibility.TEAM,
            inputs={"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "prompt_tokens": 1024},
        )
    token, _ = Token.objects.get_or_create(user=editor)
    return Actors(editor_token=token.key, team_id=team.pk, plan_id=plan.pk, viewer_user_id=viewer.pk)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as response:  # noqa: S310 - loopback URL
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@contextlib.contextmanager
def live_stack(*, web_workers: int, extra_env: dict[str, str] | None = None, label: str) -> Iterator[str]:
    """Start gunicorn (`web_workers` sync workers) on 127.0.0.1 and one Celery worker; yield the base URL
    once /healthz is 200 (database, broker and worker up); stop both (SIGTERM, then SIGKILL) on exit.

    The children inherit this process's environment (DATABASE_URL, REDIS_URL...) plus `extra_env`, and use
    config.settings. Their logs go to test-artifacts/hardening/<label>-{web,worker}.log.
    """
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1"}
    env.update(extra_env or {})
    python = sys.executable
    commands = {
        "worker": [
            python, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING", "--concurrency=1",
            f"--hostname={label}-{uuid.uuid4().hex[:8]}@localhost",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        "web": [
            python, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(web_workers), "--timeout", "60", "--graceful-timeout", "10",
        ],
    }  # fmt: skip
    children: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            with (LOG_DIR / f"{label}-{name}.log").open("wb") as log:
                children[name] = subprocess.Popen(
                    command,
                    cwd=settings.BASE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            for name, child in children.items():
                if child.poll() is not None:
                    log = LOG_DIR / f"{label}-{name}.log"
                    raise CommandError(f"{name} exited ({child.returncode}); see {log}")
            if time.monotonic() > deadline:
                raise CommandError(f"{url}/healthz not 200 after {START_TIMEOUT_S:.0f}s; logs in {LOG_DIR}")
            time.sleep(0.5)
        yield url
    finally:
        for child in reversed(list(children.values())):
            _stop(child)
