"""A worker's steps of a comparison job (the `planner.comparison_chunk` and `planner.comparison_finalise`
tasks): claim a pending chunk, evaluate it with the vectorised engine on the job's frozen inputs, write its
partial result once; when every chunk is done, merge them and store the rows and the summary with the
status change. Each step is safe to run twice and runs again on a new connection after a transient
database error (planner.services.retry); planner.services.comparisons tells the whole story."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from calculator.calibration import Calibration, default_calibration
from calculator.planning import (
    ChunkSpec,
    ComparisonSpec,
    PartialResult,
    evaluate_chunk,
    merge_partials,
    resolve_spec,
)
from calculator.specs import Catalog
from planner import specs
from planner.dispatch import send_after_commit
from planner.models import ComparisonChunk, ComparisonJob, ComparisonResultRow
from planner.services import comparison_messages
from planner.services.comparison_results import result_rows, result_summary
from planner.services.comparisons import comparison_fail
from planner.services.retry import database_retry

logger = logging.getLogger(__name__)

Status = ComparisonJob.Status
ChunkStatus = ComparisonChunk.Status


# --- Engine inputs of a job, cached per worker process -----------------------------------------------------

_INPUTS: dict[tuple[int, str], tuple[ComparisonSpec, Catalog, Calibration]] = {}


def engine_inputs(job: ComparisonJob) -> tuple[ComparisonSpec, Catalog, Calibration]:
    """The job's spec, the catalog rebuilt from its snapshot (never the live catalog) and the calibration
    frozen with it (the shipped one when none was), built once per process and job: the engine also caches
    its entity tables per Catalog object."""
    key = (job.pk, job.inputs_hash)
    cached = _INPUTS.get(key)
    if cached is not None:
        return cached
    snapshot = ComparisonJob.objects.values_list("catalog_snapshot", flat=True).get(pk=job.pk)
    catalog = specs.catalog_from_snapshot(snapshot)
    frozen = (snapshot.get("calibration") or {}).get("calibration")
    calibration = Calibration.from_dict(frozen) if frozen else default_calibration()
    spec = resolve_spec(job.spec, catalog, max_configurations=max(job.configurations_total, 1))
    if spec.digest != job.spec_digest:
        raise RuntimeError(f"job {job.pk}: the stored spec no longer resolves to digest {job.spec_digest}")
    if len(_INPUTS) >= 8:
        _INPUTS.clear()
    _INPUTS[key] = (spec, catalog, calibration)
    return spec, catalog, calibration


def _job_for_work(job_id: int) -> ComparisonJob | None:
    return ComparisonJob.objects.defer("catalog_snapshot", "summary", "request").filter(pk=job_id).first()


# --- Chunks ------------------------------------------------------------------------------------------------


def comparison_chunk_run(job_id: int, chunk_index: int, *, worker: str) -> str:
    """Claim, evaluate and write one chunk. Returns what happened: "done", "skipped" (job ended or gone,
    or the chunk is not pending: another claim holds it or it is done), "duplicate" (evaluated, but
    another run had written it first), "retry" or "failed" (the evaluation raised)."""
    what = f"comparison {job_id} chunk {chunk_index}"
    job = database_retry(_job_for_work, job_id, what=f"{what} load")
    if job is None or job.status in ComparisonJob.TERMINAL:
        return "skipped"
    chunk = database_retry(_chunk_claim, job_id, chunk_index, worker, timezone.now(), what=f"{what} claim")
    if chunk is None:
        return "skipped"
    try:
        if settings.COMPARISON_CHUNK_DELAY_S:
            time.sleep(settings.COMPARISON_CHUNK_DELAY_S)
        spec, catalog, calibration = database_retry(engine_inputs, job, what=f"{what} inputs")
        partial = evaluate_chunk(
            spec, ChunkSpec.from_dict(chunk.bounds), catalog=catalog, calibration=calibration
        )
    except Exception as error:  # SoftTimeLimitExceeded included: the chunk goes back or the job fails
        logger.exception("comparison %s chunk %s failed on %s", job_id, chunk_index, worker)
        message = f"{type(error).__name__}: {error}"
        return database_retry(_chunk_error, job, chunk, message, what=f"{what} release")
    return database_retry(chunk_write, job.pk, chunk_index, partial, what=f"{what} write")


def _chunk_claim(job_id: int, chunk_index: int, worker: str, now) -> ComparisonChunk | None:
    """pending -> running for this worker (attempts + 1) and the job queued -> running; the chunk, or None
    when it was not pending. Safe to repeat after a dropped connection: a claim that had committed is
    recognised as ours by its worker and its started_at (this call's `now`), so it is neither lost nor
    counted twice."""
    ComparisonChunk.objects.filter(job_id=job_id, chunk_index=chunk_index, status=ChunkStatus.PENDING).update(
        status=ChunkStatus.RUNNING, attempts=F("attempts") + 1, claimed_by=worker, started_at=now
    )
    chunk = (
        ComparisonChunk.objects.defer("partial")
        .filter(job_id=job_id, chunk_index=chunk_index, status=ChunkStatus.RUNNING, claimed_by=worker)
        .filter(started_at=now)
        .first()
    )
    if chunk is None:
        return None
    ComparisonJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now
    )
    ComparisonJob.objects.filter(pk=job_id).update(
        attempts=Greatest(F("attempts"), chunk.attempts), heartbeat_at=now
    )
    return chunk


def chunk_write(job_id: int, chunk_index: int, partial: PartialResult) -> str:
    """Store a chunk's partial result once: the first writer marks it done and adds its configurations
    to the job's progress; a later writer of the same chunk changes nothing ("duplicate")."""
    now = timezone.now()
    with transaction.atomic():
        chunk = (
            ComparisonChunk.objects.filter(job_id=job_id, chunk_index=chunk_index)
            .only("pk", "configurations")
            .first()
        )
        if chunk is None:
            return "skipped"
        written = (
            ComparisonChunk.objects.filter(pk=chunk.pk)
            .exclude(status=ChunkStatus.DONE)
            .update(status=ChunkStatus.DONE, partial=partial.to_dict(), finished_at=now, last_error="")
        )
        if not written:
            return "duplicate"
        ComparisonJob.objects.filter(pk=job_id).update(
            configurations_evaluated=F("configurations_evaluated") + chunk.configurations,
            chunks_done=F("chunks_done") + 1,
            heartbeat_at=now,
        )
        comparison_messages.release_chunks(job_id, 1, now)
        state = (
            ComparisonJob.objects.filter(pk=job_id).values("status", "chunks_done", "chunks_total").first()
        )
        if state and state["status"] == Status.RUNNING and state["chunks_done"] >= state["chunks_total"]:
            send_after_commit(comparison_messages.send_finalise, job_id)
    return "done"


def _chunk_error(job: ComparisonJob, chunk: ComparisonChunk, message: str) -> str:
    if chunk.attempts >= settings.COMPARISON_MAX_ATTEMPTS:
        ComparisonChunk.objects.filter(pk=chunk.pk, status=ChunkStatus.RUNNING).update(last_error=message)
        comparison_fail(
            job.pk,
            "chunk_error",
            f"chunk {chunk.chunk_index} failed {chunk.attempts} times, the last with {message}",
        )
        return "failed"
    with transaction.atomic():
        released = ComparisonChunk.objects.filter(
            pk=chunk.pk, status=ChunkStatus.RUNNING, attempts=chunk.attempts
        ).update(status=ChunkStatus.PENDING, claimed_by="", last_error=message, enqueued_at=timezone.now())
        if released:
            send_after_commit(comparison_messages.send_chunk, job.pk, chunk.chunk_index)
    return "retry"


# --- Finalise ----------------------------------------------------------------------------------------------


def comparison_finalise(job_id: int) -> str:
    """Merge every chunk's partial result and store the rows and the summary; "succeeded", or "skipped"
    (job not running, chunks missing, or another finaliser won). Running it again rewrites the same rows,
    so a transient database error runs it again (database_retry)."""
    return database_retry(_finalise, job_id, what=f"comparison {job_id} finalise")


def _finalise(job_id: int) -> str:
    job = _job_for_work(job_id)
    if job is None or job.status != Status.RUNNING:
        return "skipped"
    stored = list(
        ComparisonChunk.objects.filter(job_id=job_id, status=ChunkStatus.DONE).values_list(
            "partial", flat=True
        )
    )
    if len(stored) < job.chunks_total:
        return "skipped"
    spec, _catalog, _calibration = engine_inputs(job)
    partials = [PartialResult.from_dict(p) for p in stored]
    result = merge_partials(spec, partials)
    if not result.complete:
        comparison_fail(job_id, "incomplete", f"merged {result.evaluated} of {spec.size} configurations")
        return "failed"
    rows = result_rows(job_id, spec, result, partials)
    summary = result_summary(result)
    update_fields = [
        f.name for f in ComparisonResultRow._meta.concrete_fields if f.name not in ("id", "job", "key")
    ]
    with transaction.atomic():
        ComparisonResultRow.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["job", "key"], update_fields=update_fields
        )
        ComparisonResultRow.objects.filter(job_id=job_id).exclude(key__in=[r.key for r in rows]).delete()
        now = timezone.now()
        won = ComparisonJob.objects.filter(pk=job_id, status=Status.RUNNING).update(
            status=Status.SUCCEEDED, summary=summary, finished_at=now, heartbeat_at=now
        )
        if not won:  # cancelled (or failed by the reaper) meanwhile: keep no rows
            transaction.set_rollback(True)
            return "skipped"
    return "succeeded"
