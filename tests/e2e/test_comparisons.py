"""A comparison through the real broker and a real `celery worker`: submit, results, ranking, Pareto flags,
and redelivered messages that change nothing."""

from __future__ import annotations

import pytest

from calculator.planning import run_comparison
from planner.models import ComparisonJob, ComparisonResultRow, TaskProbe
from planner.services import comparison_worker
from planner.tasks import comparison_chunk, comparison_finalise, record_probe
from tests.e2e.comparison_support import (
    CHUNK_CONFIGURATIONS,
    CHUNKS,
    SIZE,
    detail,
    finished,
    row_values,
    submit,
)
from tests.planner.conftest import catalog, editor, team, team_admin, viewer  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _small_chunks(settings):
    settings.COMPARISON_CHUNK_CONFIGURATIONS = CHUNK_CONFIGURATIONS


def test_a_submitted_comparison_runs_on_the_worker_to_ranked_results(
    live_worker, poll, editor, team, catalog
):
    job_id = submit(editor, team)

    job = poll(lambda: finished(job_id), timeout=90, message=f"job not finished:\n{live_worker.log_tail()}")

    assert job.status == "succeeded", (job.error_code, job.error_message, live_worker.log_tail())
    assert job.chunks_total == job.chunks_done == CHUNKS
    assert job.configurations_total == job.configurations_evaluated == SIZE
    assert job.attempts == 1
    assert set(job.chunks.values_list("claimed_by", flat=True)) == {live_worker.hostname}
    body = detail(editor, job_id)
    assert body["progress"] == 1.0
    assert body["summary"]["feasible"] + body["summary"]["infeasible"] == SIZE
    assert body["timings"]["seconds"] > 0

    # The same spec and catalog evaluated in this process, in one go, gives the same ranking and front.
    spec, engine_catalog, _calibration = comparison_worker.engine_inputs(job)
    expected = run_comparison(spec, catalog=engine_catalog)
    top = list(ComparisonResultRow.objects.filter(job=job, is_top=True).order_by("rank"))
    assert [r.key for r in top] == [r.key for r in expected.top]
    assert [r.rank for r in top] == list(range(1, len(expected.top) + 1))
    costs = [r.cost_per_million_tokens_usd for r in top]
    assert costs == sorted(costs)
    assert set(ComparisonResultRow.objects.filter(job=job, is_pareto=True).values_list("key", flat=True)) == {
        r.key for r in expected.pareto
    }
    assert body["summary"]["recommendations"] == list(expected.recommendations)


def test_redelivered_chunk_and_finalise_messages_change_nothing(live_worker, poll, editor, team, catalog):
    job_id = submit(editor, team)
    poll(lambda: finished(job_id), timeout=90, message=live_worker.log_tail())
    before = row_values(job_id)
    job = ComparisonJob.objects.get(pk=job_id)

    for index in range(CHUNKS):
        comparison_chunk.delay(job_id, index)
    comparison_finalise.delay(job_id)
    probe = TaskProbe.objects.create()
    record_probe.delay(probe.pk)  # one worker, one process: done after every message sent before it
    poll(lambda: TaskProbe.objects.filter(pk=probe.pk, status="done").exists(), timeout=60)

    after = ComparisonJob.objects.get(pk=job_id)
    assert row_values(job_id) == before
    assert (after.status, after.configurations_evaluated, after.chunks_done) == ("succeeded", SIZE, CHUNKS)
    assert after.summary == job.summary
    assert after.finished_at == job.finished_at
