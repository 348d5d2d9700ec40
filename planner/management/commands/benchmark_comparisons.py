"""Benchmark comparison jobs: the engine's rate in this process, then the end-to-end time of a job of about
--configurations configurations, from submission (the service the API's POST calls) to `succeeded`, with 1,
2, ... Celery workers that this command starts itself (one process each) on whatever database and broker
the settings point to. Not a test: it asserts nothing.

Other workers consuming the same queue (a `make run` left open) would take part too; stop them first.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from calculator.frameworks import CURRENT_FRAMEWORKS
from calculator.planning import evaluate_chunk, plan_chunks, resolve_spec
from calculator.precisions import PRECISIONS
from planner import specs
from planner.heartbeat import live_workers
from planner.models import ComparisonJob, LLMModel, Membership, Role, Team
from planner.services import comparisons

BENCHMARK_TEAM_SLUG = "benchmark-comparisons"
TENSOR_PARALLEL = (1, 2, 4, 8)
BATCH_SIZES = ("auto", 1, 4, 16, 64, 256)


def benchmark_request(catalog, configurations: int) -> dict:
    """Every hardware entry, precision and framework, TP 1/2/4/8, and as many models (then batch sizes) as
    it takes to come close to `configurations`."""
    per_model_batch = len(catalog.hardware) * len(PRECISIONS) * len(CURRENT_FRAMEWORKS) * len(TENSOR_PARALLEL)
    models = sorted(catalog.models)
    batches = min(len(BATCH_SIZES), max(1, math.ceil(configurations / (per_model_batch * len(models)))))
    count = min(len(models), max(1, round(configurations / (per_model_batch * batches))))
    return {
        "grid": {
            "models": models[:count],
            "hardware": ["*"],
            "precisions": ["*"],
            "frameworks": ["*"],
            "tensor_parallel": list(TENSOR_PARALLEL),
            "batch_sizes": list(BATCH_SIZES[:batches]),
        },
        "workload": {"prompt_tokens": 1024, "output_tokens": 256, "requests_per_hour": 3600},
        "objective": "cost",
        "top_k": 100,
    }


class Command(BaseCommand):
    help = "Engine rate and end-to-end time of a large comparison job with 1, 2, ... workers (starts them)."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to try")
        parser.add_argument("--configurations", type=int, default=1_000_000)
        parser.add_argument("--repeat", type=int, default=3, help="timed jobs per worker count")
        parser.add_argument(
            "--chunk-configurations",
            type=int,
            default=None,
            help="chunk size for these jobs (default: the COMPARISON_CHUNK_CONFIGURATIONS setting)",
        )
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one job")

    def handle(self, *args, workers, configurations, repeat, chunk_configurations, timeout, **options):
        if chunk_configurations:
            settings.COMPARISON_CHUNK_CONFIGURATIONS = chunk_configurations
        if not LLMModel.objects.exists():
            self.stdout.write("The catalog is empty: loading it with seed_catalog.")
            call_command("seed_catalog", verbosity=0)
        user, team = self._actor()
        db = specs.catalog_from_db(team)
        request = benchmark_request(db.catalog, configurations)
        spec = resolve_spec(
            comparisons.engine_request(request),
            db.catalog,
            max_configurations=settings.COMPARISON_MAX_CONFIGURATIONS,
        )
        chunks = plan_chunks(spec, settings.COMPARISON_CHUNK_CONFIGURATIONS)
        database = settings.DATABASES["default"]
        self.stdout.write(
            f"Database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}; "
            f"broker: {settings.CELERY_BROKER_URL.split('@')[-1]}; "
            f"queue: {settings.CELERY_TASK_DEFAULT_QUEUE}"
        )
        self.stdout.write(
            f"Job: {spec.size:,} configurations ({len(spec.models)} models x {len(spec.hardware)} hardware x "
            f"{len(spec.precisions)} precisions x {len(spec.frameworks)} frameworks x TP "
            f"{'/'.join(map(str, spec.tensor_parallel))} x {len(spec.batch_sizes)} batch sizes) in "
            f"{len(chunks)} chunks of up to {settings.COMPARISON_CHUNK_CONFIGURATIONS:,}"
        )

        best = math.inf
        for _ in range(3):
            started = time.perf_counter()
            for chunk in chunks:
                evaluate_chunk(spec, chunk, catalog=db.catalog)
            best = min(best, time.perf_counter() - started)
        self.stdout.write(
            f"Engine, this process, one core: {spec.size / best:,.0f} configurations/s "
            f"({spec.size:,} in {best:.2f} s, best of 3)"
        )

        results = {}
        for count in workers:
            results[count] = self._run_with_workers(count, user, team, request, repeat, timeout)
        self.stdout.write("")
        self.stdout.write("workers | end-to-end seconds, submit -> succeeded (each run) | median")
        for count, times in results.items():
            runs = ", ".join(f"{t:.2f}" for t in times)
            self.stdout.write(f"{count:>7} | {runs} | {statistics.median(times):.2f}")

    def _actor(self):
        user, _ = get_user_model().objects.get_or_create(
            username="benchmark-comparisons", defaults={"is_active": False}
        )
        team, _ = Team.objects.get_or_create(slug=BENCHMARK_TEAM_SLUG, defaults={"name": "Benchmark"})
        Membership.objects.get_or_create(user=user, team=team, defaults={"role": Role.ADMIN})
        return user, team

    def _run_with_workers(self, count, user, team, request, repeat, timeout) -> list[float]:
        processes = self._start_workers(count)
        try:
            self._submit_and_wait(user, team, request, timeout)  # warm-up: imports, catalog tables
            times = []
            for _ in range(repeat):
                times.append(self._submit_and_wait(user, team, request, timeout))
            self.stdout.write(f"{count} worker(s): " + ", ".join(f"{t:.2f} s" for t in times))
            return times
        finally:
            self._stop_workers(processes)
            ComparisonJob.objects.filter(team=team).delete()

    def _submit_and_wait(self, user, team, request, timeout: float) -> float:
        started = time.perf_counter()
        job = comparisons.comparison_submit(user=user, team=team, name="benchmark", request=request)
        deadline = started + timeout
        while True:
            status = ComparisonJob.objects.filter(pk=job.pk).values_list("status", flat=True).first()
            if status in ComparisonJob.TERMINAL:
                break
            if time.perf_counter() > deadline:
                raise CommandError(f"job {job.pk} still {status} after {timeout:.0f} s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        if status != ComparisonJob.Status.SUCCEEDED:
            job.refresh_from_db()
            raise CommandError(f"job {job.pk} {status}: {job.error_code} {job.error_message}")
        return elapsed

    def _start_workers(self, count: int) -> list[tuple[str, subprocess.Popen]]:
        log_dir = Path(settings.VAR_DIR) / "benchmark"
        log_dir.mkdir(parents=True, exist_ok=True)
        processes = []
        for index in range(count):
            hostname = f"bench{index}-{uuid.uuid4().hex[:6]}@localhost"
            command = [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1",
                f"--hostname={hostname}", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel=WARNING",
            ]  # fmt: skip
            with (log_dir / f"{hostname.split('@')[0]}.log").open("wb") as log:
                process = subprocess.Popen(
                    command,
                    cwd=settings.BASE_DIR,
                    env=dict(os.environ),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            processes.append((hostname, process))
        deadline = time.monotonic() + 60
        names = {hostname for hostname, _ in processes}
        while set(live_workers().filter(hostname__in=names).values_list("hostname", flat=True)) != names:
            if time.monotonic() > deadline or any(p.poll() is not None for _, p in processes):
                self._stop_workers(processes)
                raise CommandError(f"workers did not start; see {log_dir}")
            time.sleep(0.2)
        return processes

    def _stop_workers(self, processes) -> None:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
