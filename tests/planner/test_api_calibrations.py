"""Team calibrations: a fit queued through the API, run the way a worker runs it, used by estimates and
plans; who may do what; a worker lost mid-fit; a fit cancelled while it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calculator.calibration import load_calibration
from planner.models import TeamCalibration
from planner.services import calibration_reaper, calibration_worker, calibrations, plans
from planner.services.measurements import Upload, measurement_set_upload
from tests.planner.conftest import HEADER, TEAM_ROWS

URL = "/api/v1/calibrations/"
ESTIMATE = {
    "model": "llama-3.1-8b",
    "hardware": "h100-sxm-80gb",
    "precision": "fp8",
    "framework": "vllm",
    "framework_version": "0.11.0",
    "prompt_tokens": 1000,
    "output_tokens": 200,
    "request_rate": 4,
}


def test_a_fit_is_queued_through_the_api_and_run_by_a_worker(
    measurement_set, team, api, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            URL, {"team": team.pk, "name": "lab fit", "measurement_sets": [measurement_set.pk]}, format="json"
        )
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]
    assert sent == [job_id] and response["Location"].endswith(f"{URL}{job_id}/")
    assert api.get(f"{URL}{job_id}/").json()["status"] == "queued"
    assert calibration_worker.calibration_run(job_id, worker="w1") == "done"
    assert calibration_worker.calibration_run(job_id, worker="w2") == "skipped"  # a redelivered message
    body = api.get(f"{URL}{job_id}/").json()
    assert body["status"] == "succeeded" and body["progress"] == 1.0 and body["rows_used"] == 6
    report = body["report"]
    assert report["rows_used"] == 6 and set(report["metrics"]) == {"tpot_ms", "ttft_ms"}
    ttft = report["metrics"]["ttft_ms"]
    assert ttft["team"] < ttft["shipped"]  # the fit moved towards the team's measurements
    assert "vllm/datacenter_gpu" in report["moved"] and len(report["points"]) == 6
    assert report["cross_validation"] == "5-fold"  # one file: k-fold, k = min(5, rows)


def test_estimates_and_plans_use_the_team_calibration(fitted, team, team_admin, editor, api):
    shipped = api.post("/api/v1/estimate/", {**ESTIMATE, "team": team.pk}, format="json").json()["result"]
    mine = api.post(
        "/api/v1/estimate/", {**ESTIMATE, "team": team.pk, "calibration": fitted.pk}, format="json"
    )
    assert mine.status_code == 200, mine.json()
    assert mine.json()["inputs"]["calibration"] == fitted.pk
    assert mine.json()["catalog"]["calibration"]["id"] == fitted.pk
    mine = mine.json()["result"]
    before, after = shipped["online"]["ttft_mean_s"] * 1e3, mine["online"]["ttft_mean_s"] * 1e3
    assert abs(after - 17.9) < abs(before - 17.9)  # towards the measured 17.9 ms at 4 requests/s
    assert mine["assumptions"]["calibration"] == "team:lab fit"
    # Another team's calibration, or one that has not succeeded, is a 400 naming the field.
    wrong = api.post("/api/v1/estimate/", {**ESTIMATE, "team": team.pk, "calibration": 999999}, format="json")
    assert wrong.status_code == 400 and "calibration" in wrong.json()["detail"]
    # The team's default applies where an estimate names none, and a plan version records it.
    client = api.__class__()
    client.force_authenticate(team_admin)
    assert client.post(f"{URL}{fitted.pk}/default/").status_code == 200
    plan = plans.plan_create(user=editor, team=team, name="lab plan", inputs=ESTIMATE)
    version = plan.current_version
    assert version.inputs["calibration"] == fitted.pk
    assert version.catalog_snapshot["calibration"]["name"] == "lab fit"
    assert "vllm/datacenter_gpu" in version.catalog_snapshot["calibration"]["entries"]
    assert abs(version.result["online"]["ttft_mean_s"] * 1e3 - after) < 1e-6
    # Back to the shipped one: new estimates use it, the saved version keeps its calibration.
    assert client.delete(f"{URL}{fitted.pk}/default/").status_code == 200
    again = api.post("/api/v1/estimate/", {**ESTIMATE, "team": team.pk}, format="json").json()
    assert abs(again["result"]["online"]["ttft_mean_s"] * 1e3 - before) < 1e-6
    assert "calibration" not in again["inputs"]


def test_the_download_is_a_calibration_file_the_cli_reads(fitted, api, tmp_path):
    response = api.get(f"{URL}{fitted.pk}/download/")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    path = tmp_path / "mine.json"
    path.write_bytes(response.content)
    loaded = load_calibration(path)
    assert loaded.meta["source"] == "team:lab fit" and "vllm/datacenter_gpu" in loaded.entries


@pytest.mark.parametrize(
    ("actor", "read", "submit", "cancel", "default", "download", "delete"),
    [
        ("anonymous", 401, 401, 401, 401, 401, 401),
        ("outsider", 404, 400, 404, 404, 404, 404),
        ("staff", 404, 400, 404, 404, 404, 404),
        ("viewer", 200, 403, 403, 403, 200, 403),
        ("editor", 200, 202, 409, 403, 200, 403),
        ("team_admin", 200, 202, 409, 200, 200, 204),
    ],
)
def test_calibration_permissions(
    fitted,
    measurement_set,
    team,
    client_for,
    users,
    sent,
    actor,
    read,
    submit,
    cancel,
    default,
    download,
    delete,
):
    client = client_for(users[actor])
    url = f"{URL}{fitted.pk}/"
    assert client.get(url).status_code == read
    listed = client.get(URL)
    assert listed.status_code == (401 if actor == "anonymous" else 200)
    if listed.status_code == 200:
        assert [c["id"] for c in listed.json()["results"]] == ([fitted.pk] if read == 200 else [])
    body = {"team": team.pk, "name": "again", "measurement_sets": [measurement_set.pk]}
    assert client.post(URL, body, format="json").status_code == submit
    assert client.post(url + "cancel/").status_code == cancel  # 409: it has already succeeded
    assert client.post(url + "default/").status_code == default
    assert client.delete(url + "default/").status_code == default
    assert client.get(url + "download/").status_code == download
    assert client.delete(url).status_code == delete
    assert TeamCalibration.objects.filter(pk=fitted.pk).exists() == (delete != 204)


def test_a_fit_needs_the_teams_own_sets_and_enough_rows(
    measurement_set, other_team, outsider, team, editor, sent
):
    from calculator import InputError

    data = ("\n".join([HEADER, *TEAM_ROWS]) + "\n").encode()
    theirs = measurement_set_upload(
        user=outsider, team=other_team, upload=Upload(name="t", file_name="t.csv", data=data)
    )
    with pytest.raises(InputError, match="not the team's"):
        calibrations.calibration_submit(
            user=editor, team=team, name="x", measurement_sets=[measurement_set, theirs]
        )
    small = measurement_set_upload(
        user=editor,
        team=team,
        upload=Upload(
            name="two", file_name="two.csv", data=("\n".join([HEADER, *TEAM_ROWS[:2]]) + "\n").encode()
        ),
    )
    with pytest.raises(InputError, match="at least 3"):
        calibrations.calibration_submit(user=editor, team=team, name="x", measurement_sets=[small])


def test_a_worker_lost_mid_fit_is_requeued_then_failed_with_its_reason(
    measurement_set, team, editor, sent, settings
):
    settings.CALIBRATION_MAX_ATTEMPTS = 2
    job = calibrations.calibration_submit(
        user=editor, team=team, name="lost", measurement_sets=[measurement_set]
    )
    long_ago = timezone.now() - timedelta(minutes=10)
    for attempt in (1, 2):
        # A worker claimed it and died (killed mid-fit: no result, no more heartbeats).
        TeamCalibration.objects.filter(pk=job.pk).update(
            status="running",
            attempts=attempt,
            claimed_by=f"dead-{attempt}",
            heartbeat_at=long_ago,
            started_at=long_ago,
        )
        counts = calibration_reaper.calibration_reap()
        job.refresh_from_db()
        if attempt == 1:
            assert (
                counts["requeued"] == 1 and job.status == "queued" and "stopped beating" in job.error_message
            )
        else:
            assert counts["failed"] == 1 and job.status == "failed" and job.error_code == "worker_lost"
            assert "gave up after 2 attempts" in job.error_message
    assert calibration_reaper.calibration_reap() == {"requeued": 0, "failed": 0, "resent": 0}


def test_a_fit_cancelled_while_it_runs_writes_nothing(measurement_set, team, editor, sent, monkeypatch):
    job = calibrations.calibration_submit(
        user=editor, team=team, name="stop", measurement_sets=[measurement_set]
    )
    real_fit = calibration_worker.fit_team

    def fit_cancelled_midway(rows, base, *, progress, **kwargs):
        calibrations.calibration_cancel(TeamCalibration.objects.get(pk=job.pk), user=editor)
        progress(1, 4)  # the next progress write finds the job cancelled
        return real_fit(rows, base, progress=progress, **kwargs)

    monkeypatch.setattr(calibration_worker, "fit_team", fit_cancelled_midway)
    assert calibration_worker.calibration_run(job.pk, worker="w1") == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled" and job.calibration is None and job.report is None


def test_a_fit_that_raises_fails_with_its_reason(measurement_set, team, editor, sent, monkeypatch):
    job = calibrations.calibration_submit(
        user=editor, team=team, name="boom", measurement_sets=[measurement_set]
    )

    def broken(*args, **kwargs):
        raise FloatingPointError("overflow in the fit")

    monkeypatch.setattr(calibration_worker, "fit_team", broken)
    assert calibration_worker.calibration_run(job.pk, worker="w1") == "failed"
    job.refresh_from_db()
    assert (
        job.status == "failed"
        and job.error_code == "fit_error"
        and "overflow in the fit" in job.error_message
    )


def test_comparisons_and_capacity_plans_run_on_the_team_calibration(fitted, team, api, monkeypatch):
    """A comparison freezes the calibration with its catalog rows and its workers evaluate on it; a capacity
    plan takes it like an estimate. The team's faster prefill shows in the ranked rows' TTFT."""
    from planner.models import ComparisonJob, ComparisonResultRow
    from planner.services import comparison_messages
    from tests.planner.test_api_comparisons import run_inline

    monkeypatch.setattr(comparison_messages, "send_chunk", lambda *args: None)
    body = {
        "name": "x",
        "team": team.pk,
        "grid": {
            "models": ["llama-3.1-8b"],
            "hardware": ["h100-sxm-80gb"],
            "precisions": ["fp8"],
            "frameworks": ["vllm"],
            "tensor_parallel": [1],
            "batch_sizes": [4],
        },
        "workload": {"prompt_tokens": 1000, "output_tokens": 200},
    }
    ttft = {}
    for which in ("shipped", fitted.pk):
        response = api.post(
            "/api/v1/comparisons/", {**body, "name": str(which), "calibration": which}, format="json"
        )
        assert response.status_code == 202, response.json()
        job = ComparisonJob.objects.get(pk=response.json()["id"])
        run_inline(job.pk)
        ttft[which] = ComparisonResultRow.objects.get(job=job).ttft_ms
    job = ComparisonJob.objects.get(name=str(fitted.pk))
    assert job.catalog_snapshot["calibration"]["id"] == fitted.pk
    shown = api.get(f"/api/v1/comparisons/{job.pk}/").json()["calibration"]
    assert shown == {"id": fitted.pk, "name": "lab fit"}
    assert ttft[fitted.pk] < 0.95 * ttft["shipped"], ttft
    capacity = {
        "team": team.pk,
        "model": "llama-3.1-8b",
        "hardware": ["h100-sxm-80gb"],
        "precisions": ["fp8"],
        "frameworks": ["vllm"],
        "tensor_parallel": [1],
        "prompt_tokens": 1000,
        "output_tokens": 200,
        "requests_per_s": 2,
        "slo": {"ttft_p99_ms": 2000},
    }
    p99 = {}
    for which in ("shipped", fitted.pk):
        response = api.post("/api/v1/capacity/", {**capacity, "calibration": which}, format="json")
        assert response.status_code == 200, response.json()
        p99[which] = response.json()["options"][0]["ttft_p99_ms"]
    assert p99[fitted.pk] < p99["shipped"], p99
    assert response.json()["calibration"] == "team:lab fit"
    bad = api.post("/api/v1/capacity/", {**capacity, "calibration": 987654}, format="json")
    assert bad.status_code == 400 and "calibration" in bad.json()["detail"]


def test_a_recompute_can_switch_the_calibration_and_the_diff_shows_it(fitted, team, editor, api):
    plan = plans.plan_create(
        user=editor, team=team, name="switch", inputs={**ESTIMATE, "calibration": "shipped"}
    )
    url = f"/api/v1/plans/{plan.pk}/"
    response = api.post(url + "recompute/", {"calibration": fitted.pk}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["inputs"]["calibration"] == fitted.pk
    diff = api.get(url + "diff/?a=1&b=2").json()
    changed = {row["field"]: (row["a"], row["b"]) for row in diff["inputs"] if row["changed"]}
    assert changed["calibration"] == ("shipped", fitted.pk)
    # Without a switch a recompute keeps the version's calibration.
    again = api.post(url + "recompute/", format="json").json()
    assert again["inputs"]["calibration"] == fitted.pk
    assert api.post(url + "recompute/", {"calibration": "nope"}, format="json").status_code == 400


def test_a_vllm_log_in_the_fit_reports_memory(measurement_set, team, editor, api, sent):
    from pathlib import Path

    log = Path(__file__).parents[1] / "calculator/fixtures/measurements/vllm_log_v1_0.9.1_llama31_8b_h100.log"
    memory_set = measurement_set_upload(
        user=editor,
        team=team,
        upload=Upload(
            name="boot log", file_name=log.name, data=log.read_bytes(), context={"hardware": "h100-sxm-80gb"}
        ),
    )
    assert memory_set.kind == "memory" and memory_set.row_count >= 4
    job = calibrations.calibration_submit(
        user=editor, team=team, name="with memory", measurement_sets=[measurement_set, memory_set]
    )
    assert calibration_worker.calibration_run(job.pk, worker="w1") == "done"
    job.refresh_from_db()
    memory = job.report["memory"]
    assert memory["fitted"] is False  # one log: the shipped memory parameters, its errors reported
    assert memory["metrics"]["weights_gib"]["n"] == 1 and memory["metrics"]["weights_gib"]["team"] < 0.05
