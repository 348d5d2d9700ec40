"""Benchmark one estimate as the API runs it (planner.services.estimates.estimate_run: catalog, engine,
advice, snapshot), in this process, on whatever database the settings point to (seeded: `seed_catalog`).

Prints the median and p90 of --runs calls with the catalog cache as it works (one revision query per call)
and with it emptied before every call (the three catalog queries and the rebuild each time). Not a test:
it asserts nothing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from planner import specs
from planner.models import Hardware, LLMModel
from planner.services.estimates import estimate_run

INPUTS = {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "prompt_tokens": 1024, "output_tokens": 256}


def _timings_ms(call: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1e3)
    return out


class Command(BaseCommand):
    help = "Time estimate_run in-process, with the catalog cache and without it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--runs", type=int, default=200)

    def handle(self, *args, runs: int, **options) -> None:
        if (
            not LLMModel.objects.filter(key=INPUTS["model"]).exists()
            or not Hardware.objects.filter(key=INPUTS["hardware"]).exists()
        ):
            raise CommandError("the catalog is not seeded: run `manage.py seed_catalog` first")
        for _ in range(5):  # warm-up: imports, the calibration file, the first catalog build
            estimate_run(INPUTS)

        def uncached() -> None:
            specs.clear_catalog_cache()
            estimate_run(INPUTS)

        self.stdout.write(f"estimate_run, {INPUTS['model']} on {INPUTS['hardware']}, {runs} runs each")
        for label, call in (("catalog cached", lambda: estimate_run(INPUTS)), ("catalog rebuilt", uncached)):
            times = sorted(_timings_ms(call, runs))
            p90 = times[int(0.9 * (len(times) - 1))]
            self.stdout.write(f"{label:>16}: median {statistics.median(times):.2f} ms, p90 {p90:.2f} ms")
