"""Comparisons in the browser: build a grid, submit it, watch a real worker finish it, read the summary, sort
the ranked table, see the Pareto scatter and download the CSV; errors from the engine next to their fields;
cancel while queued; and the views' permission edges (viewer, outsider, anonymous)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from planner.models import ComparisonJob, Membership, Role
from planner.services import comparisons
from tests.e2e.test_browser_plans import sign_in

pytestmark = pytest.mark.django_db(transaction=True)
# The module's worker starts with the first test that asks for live_worker (the last one here): the tests
# before it rely on jobs staying queued.

MODELS = ["llama-3.1-8b", "qwen2.5-7b"]
HARDWARE = ["h100-sxm-80gb", "a100-sxm-80gb", "l40s-48gb", "l4-24gb", "h200-sxm-141gb"]
PRECISIONS = ["fp16", "fp8", "int4-awq"]
# 2 models x 5 hardware x 3 precisions x 1 framework x TP 1/2 x batch auto/16 = 120 configurations.
SIZE = 120
REQUEST = {
    "grid": {"models": MODELS, "hardware": HARDWARE[:2], "precisions": ["fp16"], "frameworks": ["vllm"]},
    "workload": {"prompt_tokens": 512, "output_tokens": 128},
}


# Installed before every page load: records each value the progress bar shows, across the page's own reload.
RECORD_PROGRESS = """document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("progress");
  if (!bar) return;
  new MutationObserver(() => {
    const seen = JSON.parse(sessionStorage.getItem("progress-seen") || "[]");
    seen.push(Number(bar.getAttribute("aria-valuenow")));
    sessionStorage.setItem("progress-seen", JSON.stringify(seen));
  }).observe(bar, { attributes: true, attributeFilter: ["aria-valuenow"] });
});"""


@pytest.fixture(scope="module")
def live_worker_env(live_worker_env):
    """This module's worker sleeps 0.2 s before each chunk, so the progress bar has steps to show."""
    return {**live_worker_env, "PLANNER_COMPARISON_CHUNK_DELAY_S": "0.2"}


def numbers(page, column: str) -> list[float | None]:
    """The column's raw values in table order (None where empty, e.g. an unranked row's rank)."""
    values = page.eval_on_selector_all(
        f"#results-table tbody td[data-col='{column}']", "cells => cells.map(c => c.dataset.value)"
    )
    return [float(v) if v else None for v in values]


def test_engine_errors_show_next_to_their_fields(page, seeded_catalog, planner_user, settings, shoot):
    sign_in(page, "ada", "correct-horse-battery", "/comparisons/")
    page.goto("/comparisons/new/?models=llama-99b&models=llama-3.1-8b")  # a link typed by hand
    assert page.eval_on_selector_all("#id_models option:checked", "o => o.map(x => x.value)") == [
        "llama-3.1-8b",
        "llama-99b",
    ]
    page.fill("#id_max_ttft_ms", "-5")
    page.click("#submit-comparison")
    page.wait_for_load_state()
    assert page.inner_text("#errors-models") == "Unknown name: llama-99b"
    assert page.get_attribute("#id_models", "aria-invalid") == "true"
    assert page.inner_text("#errors-max_ttft_ms").startswith("Must be a finite number > 0")
    assert page.locator(".has-error").count() == 2
    assert ComparisonJob.objects.count() == 0
    shoot(page, "comparison-errors")

    # "All hardware" over a lowered limit: the size error is shown by the hardware list.
    settings.COMPARISON_MAX_CONFIGURATIONS = 50
    page.select_option("#id_models", ["llama-3.1-8b"])
    page.select_option("#id_hardware", ["*"])
    page.fill("#id_max_ttft_ms", "")
    page.click("#submit-comparison")
    page.wait_for_load_state()
    assert "over the limit of 50" in page.inner_text("#errors-hardware")
    assert page.inner_text("#errors-models") == ""
    assert page.locator(".has-error").count() == 1
    assert ComparisonJob.objects.count() == 0


def test_cancel_a_queued_comparison(page, seeded_catalog, planner_user):
    """No worker runs in this test, so the job stays queued until the Cancel button ends it."""
    team = planner_user.memberships.get().team
    job = comparisons.comparison_submit(user=planner_user, team=team, name="Queued", request=REQUEST)
    sign_in(page, "ada", "correct-horse-battery", f"/comparisons/{job.pk}/")
    assert page.inner_text("#status-label") == "Queued"
    assert page.get_attribute("#progress", "aria-valuenow") == "0"
    with page.expect_navigation():
        page.click("#cancel")
    # The page's own status poll may reload it first and take the one-time flash message, so the
    # lasting evidence is the status, the missing button and the database.
    page.wait_for_selector("#status-label:text('Cancelled')")
    assert page.locator("#cancel").count() == 0
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_viewers_cannot_submit_or_cancel_and_outsiders_see_nothing(seeded_catalog, planner_user):
    team = planner_user.memberships.get().team
    job = comparisons.comparison_submit(user=planner_user, team=team, name="Theirs", request=REQUEST)
    users = get_user_model().objects
    viewer = users.create_user(username="vic", password="x")
    Membership.objects.create(team=team, user=viewer, role=Role.VIEWER)
    outsider = users.create_user(username="olga", password="x")

    client = Client()
    for url in ("/comparisons/", "/comparisons/new/", f"/comparisons/{job.pk}/"):
        assert client.get(url).status_code == 302  # anonymous: to sign-in
    client.force_login(viewer)
    page = client.get(f"/comparisons/{job.pk}/")
    assert page.status_code == 200 and b'id="cancel"' not in page.content
    client.post(f"/comparisons/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == "queued"
    assert b"needs the editor or admin role" in client.get("/comparisons/new/").content
    form = {"team": team.pk, "models": ["llama-3.1-8b"], "hardware": ["l4-24gb"], "precisions": ["fp16"],
            "frameworks": ["vllm"], "tensor_parallel": ["1"], "batch_sizes": ["auto"],
            "deployment_mode": "cloud", "prompt_tokens": 512, "output_tokens": 128,
            "requests_per_hour": 0, "objective": "cost", "top_k": 5}  # fmt: skip
    response = client.post("/comparisons/new/", form)
    assert response.status_code == 400 and ComparisonJob.objects.count() == 1  # team not offered

    client.force_login(outsider)
    assert client.get(f"/comparisons/{job.pk}/").status_code == 404
    assert client.post(f"/comparisons/{job.pk}/cancel/").status_code == 404
    assert b"Theirs" not in client.get("/comparisons/").content
    job.refresh_from_db()
    assert job.status == "queued"


def test_build_a_grid_run_it_on_a_worker_and_explore_the_results(
    page, seeded_catalog, planner_user, live_worker, settings, shoot
):
    settings.COMPARISON_CHUNK_CONFIGURATIONS = 20  # several chunks, so progress moves in steps
    sign_in(page, "ada", "correct-horse-battery", "/comparisons/")
    assert page.get_attribute("nav a[href='/comparisons/']", "aria-current") == "page"
    assert "No comparisons yet" in page.inner_text("main")
    page.click("#new-comparison")
    page.wait_for_load_state()

    page.select_option("#id_models", MODELS)
    page.select_option("#id_hardware", HARDWARE)
    page.select_option("#id_precisions", PRECISIONS)
    page.select_option("#id_frameworks", ["vllm"])
    page.uncheck("#field-tensor_parallel input[value='4']")
    page.check("#field-batch_sizes input[value='16']")
    page.fill("#id_max_tpot_ms", "40")
    page.fill("#id_top_k", "10")
    page.fill("#id_name", "8B options")
    assert page.inner_text("#grid-size") == f"{SIZE} configurations"
    page.add_init_script(RECORD_PROGRESS)
    page.click("#submit-comparison")
    page.wait_for_load_state()

    job = ComparisonJob.objects.get(name="8B options")
    assert page.url.endswith(f"/comparisons/{job.pk}/")
    assert f"Queued “8B options”: {SIZE} configurations." in page.inner_text(".messages")
    # The page polls the JSON status and reloads itself once the worker has finished.
    page.wait_for_selector("#job-status[data-status='succeeded']", timeout=90_000)
    job.refresh_from_db()
    assert job.status == "succeeded", (job.error_code, job.error_message, live_worker.log_tail())
    assert job.chunks_total > 1
    assert page.get_attribute("#progress", "aria-valuenow") == "100"
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('progress-seen') || '[]')")
    assert any(0 < value < 100 for value in seen), seen  # the bar moved while the worker ran
    assert page.locator("#cancel").count() == 0
    summary = job.summary
    assert page.inner_text("#count-evaluated") == str(SIZE)
    assert page.inner_text("#count-feasible") == str(summary["feasible"])
    assert summary["infeasible"] > 0 and page.locator("#reasons li").count() == len(
        summary["infeasible_by_reason"]
    )
    assert page.locator("#best li[data-objective='cost']").count() == 1
    assert page.locator("#recommendations li").count() == len(summary["recommendations"])

    # Ranked table: every stored row, ranked rows first in rank order.
    stored = job.result_rows.count()
    assert page.locator("#results-table tbody tr").count() == stored
    ranks = numbers(page, "rank")
    assert ranks[:10] == list(range(1, 11)) and set(ranks[10:]) == {None}

    # Scatter: a Chart.js chart with a point per priced row and the Pareto front as its own dataset.
    priced = job.result_rows.exclude(cost_per_million_tokens_usd=None).count()
    assert page.get_attribute("#pareto-chart", "data-points") == str(priced)
    datasets = page.evaluate(
        """() => Chart.getChart(document.getElementById('pareto-chart')).data.datasets
                 .map(d => [d.label, d.data.length])"""
    )
    pareto = job.result_rows.filter(is_pareto=True).exclude(cost_per_million_tokens_usd=None).count()
    assert ["Pareto front", pareto] in datasets and pareto > 0
    assert sum(n for _, n in datasets) == priced

    # Sort client-side: TPOT ascending, then descending; the URL keeps the ordering for a reload.
    page.click("#results-table th[data-key='tpot_ms'] .sort")
    assert page.get_attribute("#results-table th[data-key='tpot_ms']", "aria-sort") == "ascending"
    tpot = numbers(page, "tpot_ms")
    assert tpot == sorted(tpot) and page.url.endswith("?ordering=tpot_ms")
    page.click("#results-table th[data-key='tpot_ms'] .sort")
    assert numbers(page, "tpot_ms") == sorted(tpot, reverse=True)
    page.goto(f"/comparisons/{job.pk}/?ordering=-output_tokens_per_s")  # server-side ordering
    throughput = numbers(page, "output_tokens_per_s")
    assert throughput == sorted(throughput, reverse=True)
    assert (
        page.get_attribute("#results-table th[data-key='output_tokens_per_s']", "aria-sort") == "descending"
    )

    # CSV export: the API's ?format=csv, authenticated by the browser's session.
    with page.expect_download() as download:
        page.click("#csv-link")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == stored and {"rank", "model", "tpot_ms", "is_pareto"} <= set(rows[0])
    assert download.value.suggested_filename == f"comparison-{job.pk}.csv"

    page.goto(f"/comparisons/{job.pk}/")
    page.wait_for_function("document.getElementById('pareto-chart').dataset.points > 0")
    shoot(page, "comparison")
    page.goto("/comparisons/")
    assert page.inner_text(f"tr[data-job='{job.pk}'] .badge") == "Succeeded"
    shoot(page, "comparison-list")
