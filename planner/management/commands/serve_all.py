"""Run the web server and one Celery worker together; Ctrl-C (SIGINT) or SIGTERM stops both.

Each child runs in its own session, so the terminal's Ctrl-C reaches only this launcher, which then sends
one SIGTERM to each child (warm shutdown for Celery) and SIGKILLs a child's whole group after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server (runserver, or gunicorn with --gunicorn) and one Celery worker."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("PLANNER_ADDR", "127.0.0.1:8000"))
        parser.add_argument(
            "--gunicorn", action="store_true", help="serve with gunicorn instead of runserver"
        )
        parser.add_argument("--grace", type=float, default=15.0, help="seconds to wait before SIGKILL")

    def handle(self, *args, addr: str, gunicorn: bool, grace: float, **options):
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        if gunicorn:
            web = [python, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
            web += ["--bind", addr, "--workers", "2"]
        else:
            web = [python, manage, "runserver", "--noreload", addr]
        worker = [
            python, "-m", "celery", "-A", "config", "worker",
            "--loglevel=INFO", "--concurrency=1", "--hostname=planner-local@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        for name, cmd in (("worker", worker), ("web", web)):
            children[name] = subprocess.Popen(cmd, cwd=settings.BASE_DIR, start_new_session=True)

        url = f"http://{addr}/"
        announced = False
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with code {child.returncode}; stopping the rest")
                    exit_code = 1
                    stopping = True
            if not announced and not stopping and _answers(url + "healthz"):
                announced = True
                self.stdout.write(self.style.SUCCESS(f"Planner is running at {url}  (health: {url}healthz)"))
                self.stdout.write("Press Ctrl-C to stop the web server and the worker.")
            time.sleep(0.3)

        self.stdout.write("Stopping web server and worker...")
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {grace:.0f}s; killing it")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        # Prefork pool children share the worker's process group: make sure none outlives it.
        for child in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - url is built from our own http:// address
            return True
    except urllib.error.HTTPError:
        return True  # 503 still means the web server is up
    except OSError:
        return False
