"""Load benchmark (not a test: nothing is asserted on timings): N concurrent clients for D seconds against
gunicorn + the configured database (use PostgreSQL) + a Celery worker, all on 127.0.0.1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/planner_load REDIS_URL=redis://127.0.0.1:6379/15 \
        .venv/bin/python manage.py loadtest

Each client is an asyncio task with its own keep-alive connection (httpx, a dev dependency), signed in as
an editor by token, cycling through: POST estimate/, GET plans/, GET plans/{id}/ and, when the schema has
comparisons, GET comparisons/{id}/ (the first comparison the editor can see, or --comparison-id).
Throttles are raised for the run (they would otherwise be what is measured). Bounded by --duration-s and
--max-requests. Reports requests/s, p50, p99 and errors per endpoint and in total; the last line is

    LOAD clients=50 duration_s=60.0 requests=N rps=X p50_ms=Y p99_ms=Z errors=E
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from planner.management.live_stack import ensure_actors, live_stack

LOAD_ENV = {
    "DEBUG": "false",
    "PLANNER_ESTIMATE_ANON_RATE": "10000000/min",
    "PLANNER_ESTIMATE_USER_RATE": "10000000/min",
}
ESTIMATE_BODY = {
    "model": "llama-3.1-8b",
    "hardware": "h100-sxm-80gb",
    "prompt_tokens": 1024,
    "output_tokens": 256,
    "batch_size": 8,
}


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    body: dict | None = None
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


COMPARISON_BODY = {
    "name": "loadtest",
    "grid": {
        "models": ["llama-3.1-8b", "llama-3.1-70b"],
        "hardware": ["h100-sxm-80gb", "a100-sxm-80gb", "l40s-48gb"],
        "precisions": ["bf16", "fp8"],
        "frameworks": ["vllm"],
        "tensor_parallel": [1, 2, 4],
        "batch_sizes": ["auto"],
    },
    "workload": {"prompt_tokens": 1024, "output_tokens": 256},
    "objective": "cost",
}
"""Submitted when the editor sees no comparison (a fresh database), so comparison status is polled too."""


class Command(BaseCommand):
    help = "Benchmark the running service: concurrent clients on estimate, plan list/detail, comparisons."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=50)
        parser.add_argument("--duration-s", type=float, default=60.0)
        parser.add_argument("--max-requests", type=int, default=500_000, help="stop after this many")
        parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers")
        parser.add_argument("--comparison-id", help="comparison to poll (default: the first one listed)")

    def handle(self, *args, clients, duration_s, max_requests, web_workers, comparison_id, **options):
        try:
            import httpx  # noqa: F401 - dev dependency, checked before starting anything
        except ImportError:
            raise CommandError("httpx is not installed: pip install -r requirements-dev.txt") from None
        # One log line per request would cost the client more CPU than the requests themselves.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        if vendor != "postgresql":
            self.stderr.write(f"note: database is {vendor}; the README figures are on PostgreSQL")
        actors = ensure_actors(prefix="loadtest")
        headers = {"Authorization": f"Token {actors.editor_token}"}
        with live_stack(web_workers=web_workers, extra_env=LOAD_ENV, label="loadtest") as url:
            endpoints = self._endpoints(url, headers, actors.plan_id, actors.team_id, comparison_id)
            elapsed = asyncio.run(
                self._run(url, headers, endpoints, clients=clients, duration_s=duration_s, cap=max_requests)
            )
        self._report(endpoints, clients, elapsed, vendor, web_workers)

    def _endpoints(self, url, headers, plan_id, team_id, comparison_id) -> list[Endpoint]:
        import httpx

        endpoints = [
            Endpoint("estimate", "POST", "/api/v1/estimate/", ESTIMATE_BODY),
            Endpoint("plan list", "GET", "/api/v1/plans/"),
            Endpoint("plan detail", "GET", f"/api/v1/plans/{plan_id}/"),
        ]
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            paths = client.get("/api/v1/schema/", params={"format": "json"}).json()["paths"]
            if "/api/v1/comparisons/{id}/" in paths:
                if comparison_id is None:
                    rows = client.get("/api/v1/comparisons/").json().get("results") or []
                    comparison_id = rows[0]["id"] if rows else None
                if comparison_id is None:
                    # A fresh database has none: submit a small one, as a script would, and poll it.
                    response = client.post("/api/v1/comparisons/", json={**COMPARISON_BODY, "team": team_id})
                    if response.status_code != 202:
                        raise CommandError(f"could not submit a comparison to poll: {response.text}")
                    comparison_id = response.json()["id"]
                status_path = f"/api/v1/comparisons/{comparison_id}/"
                endpoints.append(Endpoint("comparison status", "GET", status_path))
        return endpoints

    async def _run(self, url, headers, endpoints, *, clients, duration_s, cap) -> float:
        import httpx

        sent = 0
        start = time.perf_counter()
        deadline = start + duration_s

        async def client_loop(index: int) -> None:
            nonlocal sent
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
                turn = index
                while time.perf_counter() < deadline and sent < cap:
                    endpoint = endpoints[turn % len(endpoints)]
                    turn += 1
                    sent += 1
                    began = time.perf_counter()
                    try:
                        response = await client.request(endpoint.method, endpoint.path, json=endpoint.body)
                        ok = response.status_code < 400
                    except httpx.HTTPError:
                        ok = False
                    endpoint.latencies_s.append(time.perf_counter() - began)
                    endpoint.errors += not ok

        await asyncio.gather(*(client_loop(i) for i in range(clients)))
        return time.perf_counter() - start

    def _report(self, endpoints, clients, elapsed, vendor, web_workers) -> None:
        self.stdout.write(
            f"{clients} clients, {elapsed:.1f} s, gunicorn {web_workers} sync workers, database {vendor}"
        )
        self.stdout.write(
            f"{'endpoint':<18} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        )
        everything: list[float] = []
        errors = 0
        for endpoint in endpoints:
            latencies = endpoint.latencies_s
            everything += latencies
            errors += endpoint.errors
            if latencies:
                self.stdout.write(
                    f"{endpoint.name:<18} {len(latencies):>9} {len(latencies) / elapsed:>8.1f} "
                    f"{percentile(latencies, 50) * 1000:>8.1f} {percentile(latencies, 99) * 1000:>8.1f} "
                    f"{endpoint.errors:>7}"
                )
        if not everything:
            raise CommandError("no request completed")
        self.stdout.write(
            f"LOAD clients={clients} duration_s={elapsed:.1f} requests={len(everything)} "
            f"rps={len(everything) / elapsed:.1f} p50_ms={percentile(everything, 50) * 1000:.1f} "
            f"p99_ms={percentile(everything, 99) * 1000:.1f} errors={errors}"
        )
