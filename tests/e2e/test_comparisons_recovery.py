"""Comparisons on workers of the tests' own: progress while running, cancel, and a worker SIGKILLed
mid-job (the reaper in a second worker requeues its chunk; the results equal an undisturbed run's)."""

from __future__ import annotations

import pytest

from planner.models import ComparisonChunk, ComparisonJob, ComparisonResultRow
from tests.e2e.comparison_support import (
    CHUNK_CONFIGURATIONS,
    CHUNKS,
    SIZE,
    SLOW,
    detail,
    finished,
    row_values,
    submit,
)
from tests.planner.conftest import catalog, editor, team, team_admin, viewer  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

# The rescuer judges a worker dead 2 s after its last heartbeat and runs the reaper twice a second.
RESCUER = {"PLANNER_WORKER_STALE_S": "2", "PLANNER_COMPARISON_REAP_S": "0.5"}


@pytest.fixture(autouse=True)
def _small_chunks(settings):
    settings.COMPARISON_CHUNK_CONFIGURATIONS = CHUNK_CONFIGURATIONS


def test_progress_is_visible_while_running_and_cancel_stops_the_job(
    live_worker_factory, poll, editor, viewer, team, catalog
):
    worker = live_worker_factory(name="slow", extra_env=SLOW)
    job_id = submit(editor, team)

    poll(
        lambda: ComparisonJob.objects.filter(pk=job_id, configurations_evaluated__gt=0).exists(),
        timeout=60,
        message=worker.log_tail(),
    )
    running = detail(viewer, job_id)
    assert running["status"] == "running"
    assert 0 < running["configurations_evaluated"] < SIZE
    assert 0 < running["progress"] < 1
    assert running["timings"]["started"] is not None and running["timings"]["finished"] is None

    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(editor)
    response = client.post(f"/api/v1/comparisons/{job_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"

    # The chunk being evaluated may still finish; nothing is finalised, the job stays cancelled.
    poll(
        lambda: not ComparisonChunk.objects.filter(job_id=job_id, status="running").exists(),
        timeout=30,
        message=worker.log_tail(),
    )
    job = ComparisonJob.objects.get(pk=job_id)
    assert job.status == "cancelled"
    assert job.chunks_done < CHUNKS
    assert not ComparisonResultRow.objects.filter(job_id=job_id).exists()


def test_a_worker_killed_mid_job_leaves_the_same_results_as_an_undisturbed_run(
    live_worker_factory, poll, editor, team, catalog
):
    victim = live_worker_factory(name="victim", extra_env=SLOW)
    job_id = submit(editor, team)
    poll(
        lambda: (
            ComparisonJob.objects.filter(pk=job_id, chunks_done__gte=1).exists()
            and ComparisonChunk.objects.filter(
                job_id=job_id, status="running", claimed_by=victim.hostname
            ).exists()
        ),
        timeout=60,
        message=victim.log_tail(),
    )
    killed_chunk = ComparisonChunk.objects.get(job_id=job_id, status="running")

    victim.kill()
    rescuer = live_worker_factory(name="rescuer", extra_env=RESCUER)

    job = poll(lambda: finished(job_id), timeout=120, message=f"job stuck:\n{rescuer.log_tail()}")
    assert job.status == "succeeded", (job.error_code, job.error_message, rescuer.log_tail())
    assert (job.chunks_done, job.configurations_evaluated) == (CHUNKS, SIZE)
    assert job.attempts == 2
    killed_chunk.refresh_from_db()
    assert (killed_chunk.attempts, killed_chunk.claimed_by) == (2, rescuer.hostname)
    assert "stopped beating" in killed_chunk.last_error or killed_chunk.last_error == ""

    # The same request again, undisturbed, on the rescuer: identical rows and summary.
    reference_id = submit(editor, team)
    reference = poll(lambda: finished(reference_id), timeout=90, message=rescuer.log_tail())
    assert reference.status == "succeeded"
    assert reference.attempts == 1
    assert reference.inputs_hash == job.inputs_hash
    assert row_values(job_id) == row_values(reference_id)
    assert len(row_values(job_id)) == len({r[0] for r in row_values(job_id)})  # no duplicate keys
    assert job.summary == reference.summary
