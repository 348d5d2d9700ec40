"""Real faults while comparisons run and plans are saved; nothing is mocked or patched to raise.

* The broker restarted mid-job: a redis-server of the test's own, without persistence, is SIGKILLed while
  a worker evaluates a job and started again empty 2 s later, so every message it held is lost.
* The database unavailable while results are written: on PostgreSQL the worker's connections are
  terminated (pg_terminate_backend) while its chunks are in flight and while the finaliser waits to insert
  the result rows; SQLite has no connection to drop, so the test holds the file's write lock
  (BEGIN EXCLUSIVE from its own sqlite3 connection) past the worker's busy timeout while chunks are written.
* A plan save interrupted mid-transaction: the database refuses the version insert (a trigger), and the
  saving connection is dropped (PostgreSQL) or finds the database locked (SQLite).

A job must end succeeded with rows identical to an undisturbed run's (no key twice), or failed with a
reason, never stay running; a plan is saved whole (with its version) or not at all, and the API answers in
its error shape. What happened is read from the database: the job's and its chunks' status, attempts,
claims and timestamps, the stored rows. A database that refuses a write keeps no trace of it, so the worker's
log only says when a fault has bitten (the injection waits for that) and gives the retry figures of the
FAULT line each test prints (README "Reliability").
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from django.db import connection, connections
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from planner.models import ComparisonChunk, ComparisonJob, ComparisonResultRow, Plan, PlanVersion
from tests.e2e.comparison_support import (
    CHUNK_CONFIGURATIONS,
    CHUNKS,
    SIZE,
    SLOW,
    finished,
    row_values,
    submit,
)
from tests.e2e.fault_support import (
    log_count,
    postgres_connect,
    private_redis,
    reaper_resent_messages,
    sqlite_connect,
    submit_from_process,
)
from tests.planner.conftest import ESTIMATE_INPUTS, catalog, editor, team, team_admin, viewer  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "planner-test"
DATABASE_ERROR = ": database error, retry"


@pytest.fixture(autouse=True)
def _small_chunks(settings):
    settings.COMPARISON_CHUNK_CONFIGURATIONS = CHUNK_CONFIGURATIONS


def running_chunk(job_id: int, worker, exclude=()) -> ComparisonChunk | None:
    return (
        ComparisonChunk.objects.filter(job_id=job_id, status="running", claimed_by=worker.hostname)
        .exclude(chunk_index__in=exclude)
        .first()
    )


def assert_same_as_undisturbed(job_id: int, reference_id: int) -> ComparisonJob:
    """The faulted job succeeded with every chunk counted once and the rows and summary of an undisturbed
    run of the same request; no key is stored twice."""
    job, reference = ComparisonJob.objects.get(pk=job_id), ComparisonJob.objects.get(pk=reference_id)
    assert job.status == "succeeded", (job.status, job.error_code, job.error_message)
    assert reference.status == "succeeded", (reference.error_code, reference.error_message)
    assert (job.chunks_done, job.configurations_evaluated) == (CHUNKS, SIZE)
    assert reference.inputs_hash == job.inputs_hash
    rows = row_values(job_id)
    assert rows == row_values(reference_id)
    stored = ComparisonResultRow.objects.filter(job_id=job_id).count()
    assert len({row[0] for row in rows}) == len(rows) == stored
    assert job.summary == reference.summary
    return job


# --- The broker ------------------------------------------------------------------------------------------


@pytest.mark.timeout(360)
def test_broker_killed_and_restarted_empty_mid_job_the_job_still_succeeds(
    live_worker_env, live_worker_factory, poll, editor, team, catalog, tmp_path
):
    """Redis SIGKILLed mid-job and restarted empty: the queued chunk messages and the running chunk's
    unacknowledged one are gone. The worker reconnects, finishes the chunk it was evaluating, and its
    reaper sends the lost chunks again (PENDING_RESEND_S 5 s here, 120 s by default): their rows show it,
    sent again after the kill (enqueued_at) and then claimed by the worker from the restarted broker."""
    with private_redis(tmp_path) as broker:
        broker_env = {"CELERY_BROKER_URL": broker.url, "PLANNER_COMPARISON_CHUNK_CONFIGURATIONS": "100"}
        worker = live_worker_factory(
            name="broker",
            extra_env={
                **broker_env,
                **SLOW,
                "PLANNER_COMPARISON_PENDING_RESEND_S": "5",
                "PLANNER_COMPARISON_REAP_S": "0.5",
            },
        )
        submit_env = {**live_worker_env, **broker_env}
        job_id = submit_from_process(submit_env, editor, team)
        poll(
            lambda: (
                ComparisonJob.objects.filter(pk=job_id, chunks_done__gte=1).exists()
                and running_chunk(job_id, worker)
            ),
            timeout=90,
            message=worker.log_tail(),
        )
        in_flight = running_chunk(job_id, worker)
        lost = broker.messages(QUEUE)
        # The chunks whose messages the broker holds: sent (enqueued_at set) and not claimed yet.
        sent_before = list(
            ComparisonChunk.objects.filter(
                job_id=job_id, status="pending", enqueued_at__isnull=False
            ).values_list("pk", flat=True)
        )
        killed = timezone.now()
        killed_at = time.monotonic()
        broker.kill()
        time.sleep(2.0)  # the outage
        broker.start()  # empty: nothing was saved to disk
        assert lost >= 1  # the killed server held chunk messages that no worker had taken

        job = poll(lambda: finished(job_id), timeout=240, message=f"job stuck:\n{worker.log_tail()}")
        recovered_s = time.monotonic() - killed_at
        assert worker.is_alive(), worker.log_tail()
        assert job.status == "succeeded", (job.error_code, job.error_message, worker.log_tail())
        in_flight.refresh_from_db()
        # The chunk being evaluated when the broker died was finished by the same claim, not cancelled.
        assert (in_flight.status, in_flight.attempts) == ("done", 1)
        # The reaper sent lost chunks again (a new enqueued_at, after the kill), and the worker, reconnected,
        # took them from the restarted broker: claimed after that message, done on that first claim.
        resent = ComparisonChunk.objects.filter(pk__in=sent_before, enqueued_at__gt=killed)
        assert resent.exists(), (sent_before, worker.log_tail())
        taken = resent.filter(
            status="done", attempts=1, claimed_by=worker.hostname, started_at__gte=F("enqueued_at")
        )
        assert taken.exists(), worker.log_tail()
        resent_chunks, resent_messages = resent.count(), reaper_resent_messages(worker)

        reference_id = submit_from_process(submit_env, editor, team)
        poll(lambda: finished(reference_id), timeout=120, message=worker.log_tail())
        worker.stop()  # before its broker goes away for good
    job = assert_same_as_undisturbed(job_id, reference_id)
    print(
        f"\nFAULT broker: queued messages lost={lost} down=2.0s job={job.status} attempts={job.attempts} "
        f"in-flight chunk attempts={in_flight.attempts} reaper resent={resent_messages} "
        f"(chunks sent again={resent_chunks}) recovered_s={recovered_s:.1f} "
        f"rows={len(row_values(job_id))} identical=True duplicates=0"
    )


# --- The database while results are written -------------------------------------------------------------


@dataclass
class Struck:
    """When each fault began (this process's clock): per chunk index, and for the finaliser (None when the
    finaliser was not reached in time)."""

    chunks: dict[int, datetime] = field(default_factory=dict)
    finaliser: datetime | None = None


def _drop_postgres_connections(job_id: int, worker, app: str, poll) -> tuple[dict, Struck]:
    """Terminate the worker's connections (all of them: pool process and heartbeat thread) each time one of
    its first chunks is claimed, i.e. while it sleeps before evaluating; its next statement is the write
    (the snapshot read for a process's first chunk). Three chunks, more until the worker's log says a write
    met a closed connection. Then lock the result table, wait until the finaliser blocks inserting the rows,
    terminate it there and release the lock."""
    table = ComparisonResultRow._meta.db_table
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = %s"
    )
    figures = {"terminated": 0, "chunks_hit": 0, "finaliser_hit": 0}
    struck = Struck()
    with postgres_connect(connection.settings_dict, autocommit=True) as admin:
        hit: list[int] = []
        while len(hit) < 3 or (not log_count(worker, f"write{DATABASE_ERROR}") and len(hit) < CHUNKS - 2):
            chunk = poll(
                lambda: running_chunk(job_id, worker, exclude=hit), timeout=90, message=worker.log_tail()
            )
            figures["terminated"] += admin.execute(terminate, (app,)).fetchone()[0]
            struck.chunks[chunk.chunk_index] = timezone.now()
            hit.append(chunk.chunk_index)
        figures["chunks_hit"] = len(hit)
        with postgres_connect(connection.settings_dict) as locker:
            locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            poll(
                lambda: admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = %s AND wait_event_type = 'Lock'",
                    (app,),
                ).fetchone()[0],
                timeout=120,
                message=f"the finaliser never waited for {table}:\n{worker.log_tail()}",
            )
            figures["terminated"] += admin.execute(terminate, (app,)).fetchone()[0]
            struck.finaliser = timezone.now()
            figures["finaliser_hit"] = 1
        # leaving the block commits the locker's transaction: the lock is released
    return figures, struck


def _lock_sqlite_file(job_id: int, worker, poll) -> tuple[dict, Struck]:
    """Hold the database's lock from a connection of the test's own while one of the worker's chunks is
    claimed, until the worker's log says a step of that chunk failed ("database is locked" after its busy
    timeout: the refused statement leaves no row to read), for two chunks; then try the same on the
    finaliser, which needs the lock taken between the last chunk's commit and the finaliser's write (the
    test polls every 10 ms and usually wins). The step the lock meets depends on timing: usually the write
    (the chunk sleeps 1.5 s first), sometimes the rest of the claim or the snapshot read, all retried alike
    (waiting for the write alone held the lock through the claim's retries and timed out, 1 run in 3)."""
    figures = {"lock_holds": 0, "chunks_hit": 0, "finaliser_hit": 0}
    struck = Struck()
    lock = sqlite_connect(connection.settings_dict)
    try:
        hit: list[int] = []
        while len(hit) < 2:
            chunk = poll(
                lambda: running_chunk(job_id, worker, exclude=hit), timeout=90, message=worker.log_tail()
            )
            step = f"comparison {job_id} chunk {chunk.chunk_index} "
            failures = log_count(worker, step, DATABASE_ERROR)
            lock.execute("BEGIN EXCLUSIVE")
            struck.chunks[chunk.chunk_index] = timezone.now()
            figures["lock_holds"] += 1
            try:
                poll(
                    lambda step=step, failures=failures: log_count(worker, step, DATABASE_ERROR) > failures,
                    timeout=60,
                    message=f"chunk {chunk.chunk_index} wrote through the lock:\n{worker.log_tail()}",
                )
            finally:
                lock.execute("COMMIT")
            hit.append(chunk.chunk_index)
        figures["chunks_hit"] = len(hit)

        def job_state():
            return lock.execute(
                "SELECT chunks_done, chunks_total, status FROM planner_comparisonjob WHERE id = ?", (job_id,)
            ).fetchone()

        poll(lambda: job_state()[0] >= job_state()[1], timeout=120, interval=0.01, message=worker.log_tail())
        lock.execute("BEGIN EXCLUSIVE")
        try:
            if job_state()[2] == "running":  # not finalised yet: the finaliser will meet the lock
                struck.finaliser = timezone.now()
                figures["lock_holds"] += 1
                poll(
                    lambda: log_count(worker, f"finalise{DATABASE_ERROR}") >= 1,
                    timeout=60,
                    message=f"the finaliser wrote through the lock:\n{worker.log_tail()}",
                )
                figures["finaliser_hit"] = 1
        finally:
            lock.execute("COMMIT")
    finally:
        lock.close()
    return figures, struck


@pytest.mark.timeout(360)
def test_database_unavailable_while_results_are_written_the_job_still_succeeds(
    live_worker_factory, poll, editor, team, catalog
):
    """Every failed write is retried on a new connection inside the task (planner.services.retry.
    database_retry): the job succeeds on its first claim of every chunk, with the undisturbed rows."""
    postgres = connection.vendor == "postgresql"
    app = f"faults-{uuid.uuid4().hex[:8]}"
    # libpq names the worker's connections after PGAPPNAME; the SQLite worker gives up on a lock after 1 s.
    fault_env = {"PGAPPNAME": app} if postgres else {"PLANNER_SQLITE_BUSY_TIMEOUT_S": "1"}
    worker = live_worker_factory(name="dbfault", extra_env={**SLOW, **fault_env})
    job_id = submit(editor, team)
    if postgres:
        figures, struck = _drop_postgres_connections(job_id, worker, app, poll)
    else:
        figures, struck = _lock_sqlite_file(job_id, worker, poll)
    job = poll(lambda: finished(job_id), timeout=180, message=f"job stuck:\n{worker.log_tail()}")
    assert job.status == "succeeded", (job.error_code, job.error_message, worker.log_tail())
    assert job.attempts == 1  # no chunk had to be claimed again
    chunks = ComparisonChunk.objects.filter(job_id=job_id)
    # Every chunk was written by its first claim, on this worker: the faults were absorbed inside the task.
    assert set(chunks.values_list("status", "attempts", "claimed_by")) == {("done", 1, worker.hostname)}
    # The struck chunks were written after their fault began, by that same claim. Every lock held on SQLite
    # met a step of its chunk (claim, snapshot read or write); on PostgreSQL a cut connection may meet the
    # claim or the snapshot read instead, and the cuts go on until one met a write.
    written = dict(chunks.filter(chunk_index__in=struck.chunks).values_list("chunk_index", "finished_at"))
    after_fault = [index for index, at in struck.chunks.items() if written[index] > at]
    assert len(after_fault) >= (1 if postgres else len(struck.chunks)), (struck, written)
    if struck.finaliser is not None:  # the finaliser met the fault: it succeeded after it, not through it
        assert job.finished_at > struck.finaliser, (struck.finaliser, job.finished_at)
    retries = log_count(worker, DATABASE_ERROR)  # figures: claim, snapshot read, write, finalise retries
    write_retries = log_count(worker, f"write{DATABASE_ERROR}")
    finalise_retries = log_count(worker, f"finalise{DATABASE_ERROR}")

    reference_id = submit(editor, team)
    poll(lambda: finished(reference_id), timeout=120, message=worker.log_tail())
    assert_same_as_undisturbed(job_id, reference_id)
    print(
        f"\nFAULT database ({connection.vendor}): {figures} retries={retries} write retries={write_retries} "
        f"finalise retries={finalise_retries} job={job.status} attempts={job.attempts} "
        f"rows={len(row_values(job_id))} identical=True duplicates=0"
    )


# --- Plans -----------------------------------------------------------------------------------------------

REFUSE_VERSIONS = {
    "postgresql": [
        """CREATE FUNCTION faults_refuse_version() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'injected fault: no space for plan versions' USING ERRCODE = 'disk_full';
           END $$""",
        "CREATE TRIGGER faults_refuse_version BEFORE INSERT ON planner_planversion "
        "FOR EACH ROW EXECUTE FUNCTION faults_refuse_version()",
    ],
    "sqlite": [
        "CREATE TRIGGER faults_refuse_version BEFORE INSERT ON planner_planversion "
        "BEGIN SELECT RAISE(ABORT, 'injected fault: no space for plan versions'); END",
    ],
}
ALLOW_VERSIONS = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS faults_refuse_version ON planner_planversion",
        "DROP FUNCTION IF EXISTS faults_refuse_version()",
    ],
    "sqlite": ["DROP TRIGGER IF EXISTS faults_refuse_version"],
}


def _error_client(user) -> APIClient:
    """A client that returns the server's 5xx response instead of raising the view's exception."""
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


def _assert_error_shape(response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    assert set(response.json()) == {"code", "message", "detail"}
    assert response.json()["code"] in ("server_error", "database_unavailable")


def _plans_state() -> tuple:
    return (
        sorted(Plan.objects.values_list("pk", "name", "current_version_id")),
        sorted(PlanVersion.objects.values_list("pk", "plan_id", "number")),
    )


def test_version_insert_refused_mid_save_writes_no_plan_or_version(editor, team, catalog):
    """The database refuses the PlanVersion insert after the Plan row (or the plan's new name) was written
    in the same transaction: create, edit and recompute answer 5xx in the error shape and leave the plans
    exactly as they were; once the database accepts versions again the same create succeeds."""
    api = _error_client(editor)
    created = api.post(
        "/api/v1/plans/", {"name": "Kept", "team": team.pk, "inputs": ESTIMATE_INPUTS}, format="json"
    )
    assert created.status_code == 201, created.content
    plan_id = created.json()["id"]
    before = _plans_state()
    with connection.cursor() as cursor:
        for statement in REFUSE_VERSIONS[connection.vendor]:
            cursor.execute(statement)
    try:
        body = {"name": "Lost", "team": team.pk, "inputs": ESTIMATE_INPUTS}
        _assert_error_shape(api.post("/api/v1/plans/", body, format="json"), 500, 503)
        edit = {"name": "Renamed", "inputs": {"output_tokens": 1024}}
        _assert_error_shape(api.patch(f"/api/v1/plans/{plan_id}/", edit, format="json"), 500, 503)
        _assert_error_shape(api.post(f"/api/v1/plans/{plan_id}/recompute/"), 500, 503)
        assert _plans_state() == before
        assert not Plan.objects.filter(current_version__isnull=True).exists()
    finally:
        with connection.cursor() as cursor:
            for statement in ALLOW_VERSIONS[connection.vendor]:
                cursor.execute(statement)
    again = api.post("/api/v1/plans/", body, format="json")
    assert again.status_code == 201, again.content
    assert PlanVersion.objects.filter(plan_id=again.json()["id"]).count() == 1


def _post_in_thread(user, path: str, body: dict) -> tuple[threading.Thread, list]:
    """The request on a thread of its own, with its own database connection, as a web worker would."""
    responses: list = []

    def run() -> None:
        try:
            responses.append(_error_client(user).post(path, body, format="json"))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="plan-save")
    thread.start()
    return thread, responses


@pytest.mark.timeout(180)
def test_connection_lost_mid_save_answers_503_and_writes_nothing(editor, team, catalog, poll, monkeypatch):
    """PostgreSQL: the saving connection is terminated after it inserted the Plan row, while it waits to
    read the plan's versions (the test holds an ACCESS EXCLUSIVE lock on the version table). SQLite: the
    test holds the file's write lock past the request's busy timeout (1 s here). Either way the API
    answers 503 database_unavailable with Retry-After, no plan or version is left behind, and the same
    request succeeds once the database is back."""
    body = {"name": "Interrupted", "team": team.pk, "inputs": ESTIMATE_INPUTS}
    before = _plans_state()
    if connection.vendor == "postgresql":
        table = PlanVersion._meta.db_table
        with postgres_connect(connection.settings_dict, autocommit=True) as admin:
            with postgres_connect(connection.settings_dict) as locker:
                locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                thread, responses = _post_in_thread(editor, "/api/v1/plans/", body)
                waiting = (
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND wait_event_type = 'Lock' AND pid <> %s "
                    "AND query LIKE %s"
                )
                locker_pid = locker.info.backend_pid
                pid = poll(lambda: admin.execute(waiting, (locker_pid, f"%{table}%")).fetchone(), timeout=60)[
                    0
                ]
                # The plan row is already inserted in the waiting transaction: the drop is mid-save.
                assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
            thread.join(timeout=60)
        fault = "connection terminated while waiting to insert the version"
    else:
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 1)
        lock = sqlite_connect(connection.settings_dict)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            thread, responses = _post_in_thread(editor, "/api/v1/plans/", body)
            thread.join(timeout=60)
        finally:
            lock.execute("COMMIT")
            lock.close()
        fault = "write lock held past the 1 s busy timeout"
    assert not thread.is_alive()
    (response,) = responses
    assert response.status_code == 503, response.content
    assert response.json() == {
        "code": "database_unavailable",
        "message": "The database is unavailable; nothing was saved. Try again shortly.",
        "detail": None,
    }
    assert response["Retry-After"] == "5"
    assert _plans_state() == before

    again = _error_client(editor).post("/api/v1/plans/", body, format="json")
    assert again.status_code == 201, again.content
    assert PlanVersion.objects.filter(plan_id=again.json()["id"]).count() == 1
    print(f"\nFAULT plan save ({connection.vendor}): {fault}: 503, nothing written, the retry saved v1")
