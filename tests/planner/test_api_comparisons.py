"""Comparisons: submission (202, validation, snapshot, enqueue after commit), permissions by team role,
results and CSV export, cancel, delete, comparing alternatives to a plan, and the services a worker runs
(chunks, finaliser, reaper) called in-process: reruns give the same rows, stale work is requeued or failed.

The real-worker runs (progress, SIGKILL mid-job) are in tests/e2e/test_comparisons.py."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from calculator.planning import REASONS, resolve_spec, run_comparison
from planner import specs
from planner.models import ComparisonChunk, ComparisonJob, ComparisonResultRow, Hardware, WorkerHeartbeat
from planner.services import comparison_messages, comparison_reaper, comparison_worker, comparisons

GRID = {
    "models": ["llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b"],
    "hardware": ["*"],
    "precisions": ["fp16", "fp8", "int4-awq"],
    "frameworks": ["vllm", "llama.cpp"],
    "tensor_parallel": [1, 2, 4, 8],
    "batch_sizes": [1, 16, "auto"],
}
BODY = {
    "name": "Options",
    "grid": GRID,
    "workload": {"prompt_tokens": 1024, "output_tokens": 256, "requests_per_hour": 2000},
    "constraints": {"max_tpot_ms": 80},
    "objective": "cost",
    "top_k": 10,
}
SIZE = 3 * 3 * 3 * 2 * 4 * 3  # the catalog fixture has three hardware entries


@pytest.fixture(autouse=True)
def _small_chunks(settings):
    settings.COMPARISON_CHUNK_CONFIGURATIONS = 100  # several chunks even for small grids


@pytest.fixture
def sent(monkeypatch) -> list[tuple]:
    """Messages the services would send (captured instead of reaching the broker)."""
    messages: list[tuple] = []
    monkeypatch.setattr(comparison_messages, "send_chunk", lambda *args: messages.append(("chunk", *args)))
    monkeypatch.setattr(
        comparison_messages, "send_finalise", lambda *args: messages.append(("finalise", *args))
    )
    return messages


def submit(api, team, django_capture_on_commit_callbacks, **changes):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/comparisons/", {**BODY, "team": team.pk, **changes}, format="json")
    return response


def run_inline(job_id: int) -> None:
    """What the workers do, in this process: every chunk, then the finaliser."""
    for index in ComparisonChunk.objects.filter(job_id=job_id).values_list("chunk_index", flat=True):
        assert comparison_worker.comparison_chunk_run(job_id, index, worker="inline@test") == "done"
    assert comparison_worker.comparison_finalise(job_id) == "succeeded"


def row_values(job_id: int) -> list[tuple]:
    fields = [f.name for f in ComparisonResultRow._meta.concrete_fields if f.name not in ("id", "job")]
    return list(ComparisonResultRow.objects.filter(job_id=job_id).order_by("key").values_list(*fields))


# --- Submission ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_submit_answers_202_with_location_and_queues_the_first_chunks_after_commit(
    api, team, catalog, sent, settings, django_capture_on_commit_callbacks
):
    response = submit(api, team, django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    body = response.json()
    job = ComparisonJob.objects.get(pk=body["id"])
    assert body == {
        "id": job.pk,
        "status": "queued",
        "url": f"http://testserver/api/v1/comparisons/{job.pk}/",
    }
    assert response["Location"] == body["url"]
    assert job.configurations_total == SIZE
    assert job.chunks_total == job.chunks.count() > 1
    assert sum(job.chunks.values_list("configurations", flat=True)) == SIZE
    # The first COMPARISON_CHUNK_WINDOW chunks are queued; the rest wait for a finished chunk's turn.
    window = min(settings.COMPARISON_CHUNK_WINDOW, job.chunks_total)
    assert sorted(sent) == sorted(("chunk", job.pk, i) for i in range(window))
    assert job.chunks.filter(enqueued_at__isnull=True).count() == job.chunks_total - window
    assert job.spec["models"] == GRID["models"]
    assert set(job.spec["hardware"]) == {h.key for h in catalog["hardware"]}
    assert len(job.inputs_hash) == 64


@pytest.mark.django_db
def test_nothing_is_sent_before_the_transaction_commits(
    api, team, catalog, sent, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post("/api/v1/comparisons/", {**BODY, "team": team.pk}, format="json")

    assert response.status_code == 202
    assert sent == []
    job = ComparisonJob.objects.get()
    assert len(callbacks) == min(job.chunks_total, settings.COMPARISON_CHUNK_WINDOW)


@pytest.mark.django_db
def test_submit_snapshots_the_database_catalog_with_prices(
    api, team, catalog, sent, django_capture_on_commit_callbacks
):
    Hardware.objects.filter(key="h100-sxm-80gb").update(cloud_usd_per_hour=9.5)

    response = submit(api, team, django_capture_on_commit_callbacks)

    job = ComparisonJob.objects.get(pk=response.json()["id"])
    snapshot = job.catalog_snapshot
    h100 = Hardware.objects.get(key="h100-sxm-80gb")
    assert snapshot["hardware"]["h100-sxm-80gb"]["id"] == h100.pk
    assert snapshot["hardware"]["h100-sxm-80gb"]["cloud_usd_per_hour"] == 9.5
    assert snapshot["prices"]["h100-sxm-80gb"]["origin"] == "hardware"
    assert set(snapshot["models"]) == set(GRID["models"])
    # A later catalog edit does not change what the job computes.
    Hardware.objects.filter(key="h100-sxm-80gb").update(cloud_usd_per_hour=1.0)
    _spec, catalog_used, _calibration = comparison_worker.engine_inputs(job)
    assert catalog_used.hardware["h100-sxm-80gb"].cloud_usd_per_hour == 9.5


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        pytest.param(
            {"grid": {**GRID, "models": ["llama-99b", "llama-3.1-8b"], "hardware": ["tpu-v9"]}},
            {"models": ["llama-99b"], "hardware": ["tpu-v9"]},
            id="unknown-names",
        ),
        pytest.param({"grid": {**GRID, "precisions": ["fp3"]}}, {"precisions": ["fp3"]}, id="precision"),
        pytest.param(
            {"grid": {**GRID, "deployment_modes": ["orbit"]}}, {"deployment_modes": ["orbit"]}, id="mode"
        ),
        pytest.param(
            {"grid": {**GRID, "framework_versions": {"warp": "1.0"}}},
            {"framework_versions": ["warp"]},
            id="framework-release",
        ),
    ],
)
def test_unknown_names_are_400_naming_them_and_nothing_is_written(
    api, team, catalog, sent, django_capture_on_commit_callbacks, changes, detail
):
    response = submit(api, team, django_capture_on_commit_callbacks, **changes)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"] == detail
    assert ComparisonJob.objects.count() == 0
    assert sent == []


@pytest.mark.django_db
def test_a_grid_over_the_limit_is_400_naming_its_size(
    api, team, catalog, sent, settings, django_capture_on_commit_callbacks
):
    settings.COMPARISON_MAX_CONFIGURATIONS = 100

    response = submit(api, team, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == {"size": SIZE, "max_configurations": 100}
    assert f"{SIZE:,}" in body["message"]
    assert ComparisonJob.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"grid": {**GRID, "modles": ["x"]}}, "grid"),
        ({"workload": {"prompt_tokens": 10, "tokens": 5}}, "workload"),
        ({"objective": "speed"}, "objective"),
        ({"top_k": 0}, "top_k"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_malformed_requests_are_400(
    api, team, catalog, sent, django_capture_on_commit_callbacks, changes, field
):
    response = submit(api, team, django_capture_on_commit_callbacks, **changes)

    assert response.status_code == 400, response.content
    assert field in response.json()["detail"]
    assert ComparisonJob.objects.count() == 0


# --- Permissions --------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("anonymous", 401),
        ("outsider", 400),
        ("viewer", 403),
        ("editor", 202),
        ("team_admin", 202),
        ("staff", 400),
    ],
)
def test_who_may_submit(
    client_for, users, team, catalog, sent, django_capture_on_commit_callbacks, actor, expected
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(users[actor]).post(
            "/api/v1/comparisons/", {**BODY, "team": team.pk}, format="json"
        )

    assert response.status_code == expected, response.content
    assert ComparisonJob.objects.count() == (1 if expected == 202 else 0)


@pytest.fixture
def job(api, team, catalog, sent, django_capture_on_commit_callbacks) -> ComparisonJob:
    response = submit(api, team, django_capture_on_commit_callbacks)
    return ComparisonJob.objects.get(pk=response.json()["id"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("actor", "read", "cancel", "delete"),
    [
        ("anonymous", 401, 401, 401),
        ("outsider", 404, 404, 404),
        ("staff", 404, 404, 404),
        ("viewer", 200, 403, 403),
        ("editor", 200, 200, 403),
        ("team_admin", 200, 200, 204),
    ],
)
def test_permission_matrix(client_for, users, job, actor, read, cancel, delete):
    client = client_for(users[actor])
    url = f"/api/v1/comparisons/{job.pk}/"

    assert client.get(url).status_code == read
    assert client.get(url + "results/").status_code == (409 if read == 200 else read)
    assert client.post(url + "cancel/").status_code == cancel
    assert client.delete(url).status_code == delete
    assert ComparisonJob.objects.filter(pk=job.pk).exists() == (delete != 204)


@pytest.mark.django_db
def test_list_shows_only_the_callers_teams(client_for, users, job, other_team, outsider, catalog, sent):
    theirs = comparisons.comparison_submit(user=outsider, team=other_team, name="Theirs", request=BODY)

    mine = client_for(users["viewer"]).get("/api/v1/comparisons/").json()
    their_list = client_for(outsider).get("/api/v1/comparisons/").json()

    assert [j["id"] for j in mine["results"]] == [job.pk]
    assert [j["id"] for j in their_list["results"]] == [theirs.pk]
    assert mine["results"][0]["progress"] == 0.0


@pytest.mark.django_db
def test_list_query_count_is_pinned(client_for, editor, team, catalog, sent, django_assert_max_num_queries):
    for i in range(4):
        comparisons.comparison_submit(user=editor, team=team, name=f"Job {i}", request=BODY)
    client = client_for(editor)

    with django_assert_max_num_queries(2):
        response = client.get("/api/v1/comparisons/?ordering=-created_at")

    assert response.status_code == 200
    assert response.json()["count"] == 4


# --- Running in-process: results, summary, ranking ----------------------------------------------------------


@pytest.mark.django_db
def test_results_match_the_engine_run_in_one_process(api, job):
    run_inline(job.pk)

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.configurations_evaluated == SIZE
    assert job.attempts == 1
    spec, catalog, _calibration = comparison_worker.engine_inputs(job)
    expected = run_comparison(spec, catalog=catalog)
    rows = {r.key: r for r in ComparisonResultRow.objects.filter(job=job)}
    assert [r.key for r in expected.top] == [
        r.key for r in ComparisonResultRow.objects.filter(job=job, is_top=True).order_by("rank")
    ]
    assert {r.key for r in expected.pareto} == {k for k, r in rows.items() if r.is_pareto}
    for row in expected.top:
        stored = rows[row.key]
        assert stored.rank == row.rank
        assert stored.tpot_ms == row.tpot_ms
        assert stored.cost_per_million_tokens_usd == row.cost_per_million_tokens_usd
        assert (
            stored.prefill_cost_per_million_input_tokens_usd == row.prefill_cost_per_million_input_tokens_usd
        )
        assert (
            stored.decode_cost_per_million_output_tokens_usd == row.decode_cost_per_million_output_tokens_usd
        )
        assert stored.blended_cost_per_million_tokens_usd == row.blended_cost_per_million_tokens_usd
    assert job.summary["infeasible_by_reason"] == {k: v for k, v in expected.infeasible.items() if v}
    assert job.summary["feasible"] + job.summary["infeasible"] == SIZE
    assert job.summary["recommendations"] == list(expected.recommendations)


@pytest.mark.django_db
def test_detail_reports_status_progress_timings_and_summary(api, job):
    run_inline(job.pk)

    body = api.get(f"/api/v1/comparisons/{job.pk}/").json()

    assert body["status"] == "succeeded"
    assert body["configurations_total"] == body["configurations_evaluated"] == SIZE
    assert body["progress"] == 1.0
    assert body["error"] is None
    assert body["attempts"] == 1
    assert body["chunks"]["done"] == body["chunks"]["total"]
    timings = body["timings"]
    assert timings["created"] and timings["started"] and timings["finished"]
    assert timings["seconds"] >= timings["running_seconds"] >= 0
    summary = body["summary"]
    assert set(summary["best"]) <= {"cost", "latency", "throughput", "balanced"}
    assert (
        summary["best"]["cost"]["key"]
        == api.get(f"/api/v1/comparisons/{job.pk}/results/?page_size=1").json()["results"][0]["key"]
    )
    assert any(line.startswith("Cheapest feasible:") and "$" in line for line in summary["recommendations"])
    assert summary["infeasible_by_reason"].get("tpot", 0) > 0  # the 80 ms TPOT constraint bites


@pytest.mark.django_db
def test_results_are_ranked_paginated_filtered_and_ordered(api, job):
    run_inline(job.pk)
    url = f"/api/v1/comparisons/{job.pk}/results/"

    page = api.get(url + "?page_size=5").json()
    feasible = api.get(url + "?feasible=true&page_size=200").json()["results"]
    pareto = api.get(url + "?pareto=true&page_size=200").json()["results"]
    h100 = api.get(url + "?hardware=h100-sxm-80gb&page_size=200").json()["results"]
    by_tpot = api.get(url + "?ordering=tpot_ms&page_size=200").json()["results"]

    assert page["count"] == ComparisonResultRow.objects.filter(job=job).count()
    assert [r["rank"] for r in page["results"]] == [1, 2, 3, 4, 5]
    ranked = [r for r in feasible if r["rank"]]
    costs = [r["cost_per_million_tokens_usd"] for r in ranked]
    assert costs == sorted(costs) and len(ranked) == 10
    assert all(r["tpot_ms"] <= 80 for r in feasible)
    assert pareto and all(r["is_pareto"] for r in pareto)
    assert h100 and {r["hardware"] for r in h100} == {"h100-sxm-80gb"}
    assert [r["tpot_ms"] for r in by_tpot] == sorted(r["tpot_ms"] for r in by_tpot)
    assert api.get(url + "?ordering=colour").status_code == 200  # unknown orderings are ignored


@pytest.mark.django_db
def test_results_export_as_csv(api, job):
    run_inline(job.pk)

    response = api.get(f"/api/v1/comparisons/{job.pk}/results/?format=csv&pareto=true")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"comparison-{job.pk}.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == ComparisonResultRow.objects.filter(job=job, is_pareto=True).count()
    assert {"rank", "model", "hardware", "tpot_ms", "cost_per_million_tokens_usd", "is_pareto"} <= set(
        rows[0]
    )
    split = {
        "prefill_cost_per_million_input_tokens_usd",
        "decode_cost_per_million_output_tokens_usd",
        "blended_cost_per_million_tokens_usd",
    }
    assert split <= set(rows[0])


# --- Rerun idempotency --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_running_a_chunk_or_the_finaliser_twice_gives_the_same_rows(job, sent):
    run_inline(job.pk)
    before = row_values(job.pk)
    ids = set(ComparisonResultRow.objects.filter(job=job).values_list("id", flat=True))
    job.refresh_from_db()
    summary = job.summary

    # A redelivered chunk message finds the chunk done and writes nothing.
    assert comparison_worker.comparison_chunk_run(job.pk, 0, worker="again@test") == "skipped"
    # The same partial written again (a second evaluation that lost the race) is not counted twice.
    spec, catalog, _calibration = comparison_worker.engine_inputs(job)
    from calculator.planning import ChunkSpec, evaluate_chunk

    chunk = job.chunks.get(chunk_index=0)
    partial = evaluate_chunk(spec, ChunkSpec.from_dict(chunk.bounds), catalog=catalog)
    assert partial.to_dict() == chunk.partial
    assert comparison_worker.chunk_write(job.pk, 0, partial) == "duplicate"
    # The finaliser run again (e.g. a second message) rewrites the same rows in place.
    ComparisonJob.objects.filter(pk=job.pk).update(status="running")
    assert comparison_worker.comparison_finalise(job.pk) == "succeeded"

    job.refresh_from_db()
    assert job.configurations_evaluated == SIZE
    assert job.chunks_done == job.chunks_total
    assert row_values(job.pk) == before
    assert set(ComparisonResultRow.objects.filter(job=job).values_list("id", flat=True)) == ids
    assert job.summary == summary


@pytest.mark.django_db
def test_the_last_chunk_sends_exactly_one_finalise(job, sent, django_capture_on_commit_callbacks):
    sent.clear()
    indexes = list(job.chunks.values_list("chunk_index", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        for index in indexes:
            comparison_worker.comparison_chunk_run(job.pk, index, worker="inline@test")
            comparison_worker.comparison_chunk_run(job.pk, index, worker="inline@test")  # duplicate message

    assert [m for m in sent if m[0] == "finalise"] == [("finalise", job.pk)]
    # Each chunk written once released the next waiting one, once (the duplicate runs release nothing).
    released = [m[2] for m in sent if m[0] == "chunk"]
    assert sorted(released) == sorted(set(released))


# --- Cancel, delete -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_stops_the_job_and_later_chunks_do_nothing(api, job):
    comparison_worker.comparison_chunk_run(job.pk, 0, worker="inline@test")

    response = api.post(f"/api/v1/comparisons/{job.pk}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"]["code"] == "cancelled"
    assert comparison_worker.comparison_chunk_run(job.pk, 1, worker="inline@test") == "skipped"
    assert comparison_worker.comparison_finalise(job.pk) == "skipped"
    assert not ComparisonResultRow.objects.filter(job=job).exists()
    assert api.post(f"/api/v1/comparisons/{job.pk}/cancel/").status_code == 200  # idempotent


@pytest.mark.django_db
def test_a_finished_job_cannot_be_cancelled(api, job):
    run_inline(job.pk)

    response = api.post(f"/api/v1/comparisons/{job.pk}/cancel/")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


@pytest.mark.django_db
def test_delete_removes_chunks_and_results(client_for, team_admin, job):
    run_inline(job.pk)

    response = client_for(team_admin).delete(f"/api/v1/comparisons/{job.pk}/")

    assert response.status_code == 204
    assert not ComparisonChunk.objects.filter(job_id=job.pk).exists()
    assert not ComparisonResultRow.objects.filter(job_id=job.pk).exists()
    assert comparison_worker.comparison_chunk_run(job.pk, 0, worker="late@test") == "skipped"


# --- Compare alternatives to a plan -------------------------------------------------------------------------


@pytest.mark.django_db
def test_plan_compare_builds_a_grid_around_the_plan(
    api, plan, catalog, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/plans/{plan.pk}/compare/", {"top_k": 5}, format="json")

    assert response.status_code == 202, response.content
    job = ComparisonJob.objects.get(pk=response.json()["id"])
    assert response["Location"].endswith(f"/api/v1/comparisons/{job.pk}/")
    assert job.plan == plan and job.team == plan.team
    assert job.name == f"Alternatives to {plan.name}"
    inputs = plan.current_version.inputs
    assert job.spec["models"] == [inputs["model"]]
    assert set(job.spec["hardware"]) == {h.key for h in catalog["hardware"]}
    assert job.spec["precisions"][0] == inputs["precision"] and len(job.spec["precisions"]) > 1
    assert job.spec["tensor_parallel"] == [1, 2, 4, 8]
    assert job.spec["prompt_tokens"] == inputs["prompt_tokens"] == 1024
    assert job.spec["top_k"] == 5
    assert sent


@pytest.mark.django_db
def test_plan_compare_needs_the_editor_role(client_for, viewer, outsider, plan, sent):
    assert client_for(viewer).post(f"/api/v1/plans/{plan.pk}/compare/").status_code == 403
    assert client_for(outsider).post(f"/api/v1/plans/{plan.pk}/compare/").status_code == 404
    assert ComparisonJob.objects.count() == 0


# --- Reaper -------------------------------------------------------------------------------------------------


def _claim(job, index: int, *, worker: str, attempts: int, seconds_ago: float) -> None:
    ComparisonChunk.objects.filter(job=job, chunk_index=index).update(
        status="running",
        claimed_by=worker,
        attempts=attempts,
        started_at=timezone.now() - timedelta(seconds=seconds_ago),
    )
    ComparisonJob.objects.filter(pk=job.pk).update(status="running", started_at=timezone.now())


@pytest.mark.django_db
def test_reaper_requeues_the_chunk_of_a_dead_worker(job, sent, django_capture_on_commit_callbacks):
    sent.clear()
    _claim(job, 0, worker="dead@host", attempts=1, seconds_ago=60)
    WorkerHeartbeat.objects.create(
        hostname="dead@host",
        pid=1,
        started_at=timezone.now(),
        last_seen_at=timezone.now() - timedelta(minutes=5),
    )
    with django_capture_on_commit_callbacks(execute=True):
        counts = comparison_reaper.comparison_reap()

    assert counts["requeued"] == 1
    assert sent == [("chunk", job.pk, 0)]
    chunk = job.chunks.get(chunk_index=0)
    assert (chunk.status, chunk.claimed_by, chunk.attempts) == ("pending", "", 1)
    assert "dead@host stopped beating" in chunk.last_error
    run_inline(job.pk)
    assert job.chunks.get(chunk_index=0).attempts == 2
    job.refresh_from_db()
    assert job.attempts == 2 and job.status == "succeeded"


@pytest.mark.django_db
def test_reaper_leaves_the_chunks_of_live_workers_alone(job, sent, django_capture_on_commit_callbacks):
    sent.clear()
    _claim(job, 0, worker="alive@host", attempts=1, seconds_ago=60)
    WorkerHeartbeat.objects.create(
        hostname="alive@host", pid=1, started_at=timezone.now(), last_seen_at=timezone.now()
    )
    _claim(job, 1, worker="new@host", attempts=1, seconds_ago=1)  # just claimed: not judged yet

    with django_capture_on_commit_callbacks(execute=True):
        counts = comparison_reaper.comparison_reap()

    assert counts == {"requeued": 0, "failed": 0, "resent": 0, "released": 0, "finalise_resent": 0}
    assert sent == []


@pytest.mark.django_db
def test_reaper_fails_the_job_after_max_attempts(job, settings, sent, django_capture_on_commit_callbacks):
    settings.COMPARISON_MAX_ATTEMPTS = 3
    _claim(job, 2, worker="dead@host", attempts=3, seconds_ago=60)

    counts = comparison_reaper.comparison_reap()

    job.refresh_from_db()
    assert counts["failed"] == 1
    assert job.status == "failed"
    assert job.error_code == "worker_lost"
    assert "chunk 2 did not finish in 3 attempts" in job.error_message
    assert job.finished_at is not None


@pytest.mark.django_db
def test_reaper_resends_lost_messages_and_finalise(job, settings, sent, django_capture_on_commit_callbacks):
    sent.clear()
    long_ago = timezone.now() - timedelta(seconds=settings.COMPARISON_PENDING_RESEND_S + 5)
    ComparisonChunk.objects.filter(job=job).update(enqueued_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert comparison_reaper.comparison_reap()["resent"] == job.chunks_total
    assert len(sent) == job.chunks_total

    for index in job.chunks.values_list("chunk_index", flat=True):
        comparison_worker.comparison_chunk_run(job.pk, index, worker="inline@test")
    ComparisonJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert comparison_reaper.comparison_reap()["finalise_resent"] == 1
    assert sent == [("finalise", job.pk)]


@pytest.mark.django_db
def test_a_chunk_that_raises_is_retried_then_fails_the_job(job, settings, sent, monkeypatch):
    settings.COMPARISON_MAX_ATTEMPTS = 2

    def broken(*args, **kwargs):
        raise ValueError("engine exploded")

    monkeypatch.setattr(comparison_worker, "evaluate_chunk", broken)

    assert comparison_worker.comparison_chunk_run(job.pk, 0, worker="w@test") == "retry"
    assert comparison_worker.comparison_chunk_run(job.pk, 0, worker="w@test") == "failed"
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error_code == "chunk_error"
    assert "engine exploded" in job.error_message


@pytest.mark.django_db
def test_catalog_snapshot_round_trips_to_the_engine_catalog(catalog, team):
    db = specs.catalog_from_db(team)
    snapshot = specs.catalog_snapshot(db, models=["llama-3.1-8b"], hardware=["h100-sxm-80gb"])

    rebuilt = specs.catalog_from_snapshot(snapshot)

    assert rebuilt.models["llama-3.1-8b"] == db.catalog.models["llama-3.1-8b"]
    assert rebuilt.hardware["h100-sxm-80gb"] == db.catalog.hardware["h100-sxm-80gb"]
    spec = resolve_spec(
        {"models": ["llama-3.1-8b"], "hardware": ["h100"], "precisions": ["fp8"], "frameworks": ["vllm"]},
        rebuilt,
    )
    assert spec.size == 1


@pytest.mark.django_db
def test_a_sized_comparison_stores_replicas_and_the_operating_point(
    api, team, catalog, sent, django_capture_on_commit_callbacks
):
    body = {
        "grid": {"models": ["llama-3.1-70b"], "hardware": ["*"], "precisions": ["fp8", "fp16"],
                 "frameworks": ["vllm"], "tensor_parallel": [1, 2, 4, 8]},
        "workload": {"prompt_tokens": 1000, "output_tokens": 200, "requests_per_s": 10},
        "constraints": {"slo": {"ttft_p99_ms": 1000}, "max_total_gpus": 16},
        "objective": "gpus",
    }  # fmt: skip
    response = submit(api, team, django_capture_on_commit_callbacks, **body)
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]
    run_inline(job_id)
    rows = api.get(f"/api/v1/comparisons/{job_id}/results/?top=true").json()["results"]
    assert rows
    for row in rows:
        assert row["num_gpus"] == row["replicas"] * row["tensor_parallel"] * row["pipeline_parallel"] <= 16
        assert row["ttft_p99_ms"] <= 1000 and 0 < row["utilization"] <= 0.9 + 1e-9
        assert row["binding_constraint"] in ("ttft_p99_ms", "max_utilization")
        assert row["output_tokens_per_s"] >= 2000 * (1 - 1e-9)
    assert [r["num_gpus"] for r in rows] == sorted(r["num_gpus"] for r in rows)
    summary = api.get(f"/api/v1/comparisons/{job_id}/").json()["summary"]
    assert set(summary["infeasible_by_reason"]) <= set(REASONS)


@pytest.mark.django_db
def test_sized_comparison_errors_are_400_naming_the_field(
    api, team, sent, django_capture_on_commit_callbacks
):
    body = {"constraints": {"slo": {"ttft_p99_ms": 1000}}}  # batch sizes 1 and 16 with an SLO
    response = submit(api, team, django_capture_on_commit_callbacks, **body)
    assert response.status_code == 400
    assert "batch_sizes" in response.json()["detail"]
    body = {"constraints": {"slo": {"ttft_p99_ms": -1}}}
    response = submit(api, team, django_capture_on_commit_callbacks, **body)
    assert "slo.ttft_p99_ms" in response.json()["detail"]


# --- Per-team limits ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_team_at_its_limits_gets_429_and_other_teams_are_unaffected(
    api, team, other_team, outsider, client_for, catalog, sent, settings, django_capture_on_commit_callbacks
):
    settings.COMPARISON_TEAM_MAX_ACTIVE_JOBS = 2
    assert submit(api, team, django_capture_on_commit_callbacks).status_code == 202
    assert submit(api, team, django_capture_on_commit_callbacks).status_code == 202
    refused = submit(api, team, django_capture_on_commit_callbacks)
    assert refused.status_code == 429, refused.content
    assert refused.json()["code"] == "quota_exceeded" and "2 comparisons" in refused.json()["message"]
    assert ComparisonJob.objects.filter(team=team).count() == 2
    # Another team still submits; cancelling one frees a place.
    other = client_for(outsider)
    assert submit(other, other_team, django_capture_on_commit_callbacks).status_code == 202
    first = ComparisonJob.objects.filter(team=team).order_by("pk").first()
    assert api.post(f"/api/v1/comparisons/{first.pk}/cancel/").status_code == 200
    assert submit(api, team, django_capture_on_commit_callbacks).status_code == 202


@pytest.mark.django_db
def test_the_configurations_a_team_has_queued_are_bounded(
    api, team, catalog, sent, settings, django_capture_on_commit_callbacks
):
    first = submit(api, team, django_capture_on_commit_callbacks)
    size = ComparisonJob.objects.get(pk=first.json()["id"]).configurations_total
    settings.COMPARISON_TEAM_MAX_ACTIVE_CONFIGURATIONS = size + size // 2
    refused = submit(api, team, django_capture_on_commit_callbacks)
    assert refused.status_code == 429
    assert f"{2 * size:,} queued or running" in refused.json()["message"]


def _drain(sent: list[tuple], capture) -> list[int]:
    """Play the broker: take messages first in, first out, run each as a worker would (its commit sends
    the next ones) and return the job id of each chunk in the order the chunks finished."""
    order = []
    while sent:
        kind, job_id, *rest = sent.pop(0)
        with capture(execute=True):
            if kind == "chunk":
                assert comparison_worker.comparison_chunk_run(job_id, rest[0], worker="inline@test") == "done"
                order.append(job_id)
            else:
                assert comparison_worker.comparison_finalise(job_id) == "succeeded"
    return order


@pytest.mark.django_db
def test_a_small_job_is_not_stuck_behind_a_big_one(
    api, team, client_for, outsider, other_team, catalog, sent, settings, django_capture_on_commit_callbacks
):
    """Reliability issue: three 3.9M-configuration jobs of one team delayed another team's one-chunk job
    by 7 s, because every chunk of the big jobs was queued first. With a window of 2 chunks per job, the
    small job's chunk is third in the queue, and both jobs still finish."""
    settings.COMPARISON_CHUNK_WINDOW = 2
    big = ComparisonJob.objects.get(pk=submit(api, team, django_capture_on_commit_callbacks).json()["id"])
    small_grid = {**GRID, "models": ["llama-3.1-8b"], "hardware": ["h100-sxm-80gb"], "precisions": ["fp16"]}
    body = {**BODY, "team": other_team.pk, "grid": {**small_grid, "frameworks": ["vllm"]}}
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(outsider).post("/api/v1/comparisons/", body, format="json")
    small = ComparisonJob.objects.get(pk=response.json()["id"])
    assert big.chunks_total > 4 and small.chunks_total == 1

    order = _drain(sent, django_capture_on_commit_callbacks)

    assert order.index(small.pk) == 2, order
    assert order.count(big.pk) == big.chunks_total
    for job in (big, small):
        job.refresh_from_db()
        assert job.status == "succeeded"


@pytest.mark.django_db
def test_the_reaper_releases_chunks_a_lost_release_left_waiting(
    job, settings, sent, django_capture_on_commit_callbacks
):
    """A chunk written, its commit done, the process gone before it sent the next message: the job would wait
    forever; the reaper sends the next chunks up to the window."""
    settings.COMPARISON_CHUNK_WINDOW = 2
    ComparisonChunk.objects.filter(job=job).update(enqueued_at=None)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert comparison_reaper.comparison_reap()["released"] == 2
    assert sent == [("chunk", job.pk, 0), ("chunk", job.pk, 1)]
    with django_capture_on_commit_callbacks(execute=True):
        assert comparison_reaper.comparison_reap()["released"] == 0  # the window is full


@pytest.mark.django_db
def test_a_framework_release_in_the_grid_ranks_its_engine_era(
    api, team, catalog, sent, django_capture_on_commit_callbacks
):
    grid = {**GRID, "frameworks": ["vllm"], "framework_versions": {"vllm": "0.5.4"}}
    response = submit(api, team, django_capture_on_commit_callbacks, grid=grid)
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    run_inline(job_id)

    frameworks = set(ComparisonResultRow.objects.filter(job_id=job_id).values_list("framework", flat=True))
    assert frameworks == {"vllm-v0"}
