"""A team's own benchmarks in the browser, end to end: upload a `vllm bench serve` result and a CSV, fit a
calibration on a real worker, read its page (the error table and the scatter), make it the team's default,
and use it in an estimate and in a saved plan; the estimate's TTFT moves towards the uploaded measurements."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.models import MeasurementSet, Plan, TeamCalibration
from tests.e2e.test_browser_plans import sign_in
from tests.planner.conftest import HEADER, TEAM_ROWS

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = Path(__file__).resolve().parents[1] / "calculator" / "fixtures" / "measurements"
VLLM_RESULT = FIXTURES / "vllm_bench_serving_rate4_llama31_8b_h100.json"
# Both files measure TTFT below the shipped calibration's (the CSV: 17.5-18.6 ms against about 27-28 ms).
ESTIMATE = (
    "/?model=llama-3.1-8b&hardware=h100-sxm-80gb&precision=fp8&framework=vllm&prompt_tokens=1000"
    "&output_tokens=200&batch_size=4&num_gpus=1&tensor_parallel=1&pipeline_parallel=1&requests_per_hour=0"
)


def upload(page, name: str, path: Path, **context: str) -> None:
    page.goto("/measurements/")
    page.fill("#id_name", name)
    page.select_option("#id_team", label="Inference")
    page.set_input_files("#id_file", str(path))
    for field, value in context.items():
        page.fill(f"#id_{field}", value)
    page.click("#upload-form button[type=submit]")
    page.wait_for_load_state()


def ttft_ms(page) -> float:
    return float(page.get_attribute("#fig-ttft", "data-raw")) * 1e3


def test_upload_fit_and_use_a_team_calibration(
    page, seeded_catalog, planner_user, live_worker, tmp_path, shoot
):
    sign_in(page, "ada", "correct-horse-battery", "/measurements/")
    # A vllm bench serve result does not say the GPU, the precision, the vLLM release or the TP: asked for.
    upload(page, "h100 bench", VLLM_RESULT)
    assert "does not state" in page.inner_text("#errors-file") or "does not state" in page.inner_text("main")
    upload(
        page,
        "h100 bench",
        VLLM_RESULT,
        hardware="h100-sxm-80gb",
        precision="bf16",
        framework_version="0.11.0",
        tp="1",
    )
    assert "Stored" in page.inner_text(".messages")
    assert page.locator("#rows tbody tr").count() >= 8
    csv = tmp_path / "lab.csv"
    csv.write_text("\n".join([HEADER, *TEAM_ROWS]) + "\n")
    upload(page, "lab runs", csv)
    assert "Stored 6 rows" in page.inner_text(".messages")
    sets = list(MeasurementSet.objects.order_by("pk"))
    assert [s.file_format for s in sets] == ["vllm-bench", "csv"]

    # Fit both on the worker; the page refreshes itself until the fit is done.
    page.goto("/calibrations/")
    page.fill("#id_name", "our h100")
    page.select_option("#id_team", label="Inference")
    for s in sets:
        page.check(f"#field-measurement_sets input[value='{s.pk}']")
    page.click("#fit-form button[type=submit]")
    page.wait_for_load_state()
    job = TeamCalibration.objects.get(name="our h100")
    assert page.url.endswith(f"/calibrations/{job.pk}/")
    page.wait_for_selector("#status .badge-job-succeeded", timeout=120_000)
    job.refresh_from_db()
    assert job.status == "succeeded", (job.error_code, job.error_message, live_worker.log_tail())
    report = job.report
    assert report["metrics"]["ttft_ms"]["team"] < report["metrics"]["ttft_ms"]["shipped"]
    assert page.locator("#errors tbody tr").count() == len(report["metrics"])
    assert page.locator("#moved tbody tr").count() > 0
    assert int(page.get_attribute("#calibration-chart", "data-rendered")) >= 2 * report["rows_used"]
    shoot(page, "calibration")
    page.click("#make-default")
    page.wait_for_load_state()
    assert "team default" in page.inner_text("h1")

    # The estimate with the shipped calibration, then with the team's: its TTFT falls towards the team's.
    page.goto(ESTIMATE)
    shipped = ttft_ms(page)
    page.goto(ESTIMATE + f"&calibration={job.pk}")
    assert page.eval_on_selector("#id_calibration", "s => s.value") == str(job.pk)
    mine = ttft_ms(page)
    assert mine < 0.95 * shipped, (shipped, mine)

    # Saved as a plan, the version records the calibration and its figures.
    page.fill("#id_name", "support bot on our h100")
    page.click("#save-plan")
    page.wait_for_load_state()
    plan = Plan.objects.get(name="support bot on our h100")
    version = plan.current_version
    assert version.inputs["calibration"] == job.pk
    assert version.catalog_snapshot["calibration"]["name"] == "our h100"
    assert abs(version.result["performance"]["ttft_s"] * 1e3 - mine) < 1e-6
