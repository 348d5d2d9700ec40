"""Services for comparison jobs: submit, run a chunk, finalise, cancel, delete, reap.

The ComparisonJob row is the truth; every transition is a conditional UPDATE whose row count says whether
this caller won it, so any step may run twice (a redelivered message, a reaper's second message, two
workers) without changing the outcome:

  submit    validate against the database catalog (calculator.planning.resolve_spec), snapshot the rows
            used, plan the chunks; the job (queued) and its chunks (pending) in one transaction; one
            `planner.comparison_chunk` message per chunk of the first COMPARISON_CHUNK_WINDOW is sent after
            commit (the rest wait, enqueued_at empty).
  chunk     claim pending -> running (attempts + 1, claimed_by = the worker node); evaluate; write the
            partial result with not-done -> done, so exactly one writer counts the chunk's configurations
            into the job's progress and sends the job's next waiting chunk (the window moves on: jobs
            share the first-in-first-out queue chunk by chunk); the writer that brings chunks_done to
            chunks_total sends `planner.comparison_finalise`.
  finalise  merge every partial (merge_partials is order-independent and counts a chunk once), upsert the
            result rows on (job, key) and mark the job succeeded with its summary, in one transaction.
  database  a dropped connection or a locked SQLite file in the middle of a step: the step runs again on a
            new connection (database_retry); the steps are idempotent, so a repeat changes nothing.
  reap      run by every worker's heartbeat thread every COMPARISON_REAP_INTERVAL_S, by
            `manage.py reap_comparisons` and by the `planner.reap_comparisons` task: a running chunk whose
            worker stopped beating (or that outlived the task time limit) goes back to pending with a new
            message, or fails the job once it has been claimed COMPARISON_MAX_ATTEMPTS times; a pending
            chunk whose message is older than COMPARISON_PENDING_RESEND_S gets another message; a job with
            fewer than its window of chunks in flight (a release lost between commit and send) gets the
            next ones; a running job whose chunks are all done gets another finalise message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from calculator import ENGINE_VERSION
from calculator.calibration import Calibration, default_calibration
from calculator.planning import (
    CONSTRAINT_REASONS,
    CONSTRAINTS,
    ChunkSpec,
    ComparisonResult,
    ComparisonSpec,
    PartialResult,
    ResultRow,
    constraint_met,
    constraint_value,
    evaluate_chunk,
    merge_partials,
    plan_chunks,
    rank_value,
    resolve_spec,
)
from calculator.planning.rows import SPLIT_FIELDS
from calculator.specs import Catalog
from planner import access, calibrations, specs
from planner.dispatch import send_after_commit
from planner.heartbeat import live_workers
from planner.models import ComparisonChunk, ComparisonJob, ComparisonResultRow, Plan, Team

logger = logging.getLogger(__name__)

Status = ComparisonJob.Status
ChunkStatus = ComparisonChunk.Status

GRID_FIELDS = (
    "models", "hardware", "precisions", "frameworks", "tensor_parallel", "pipeline_parallel", "num_gpus",
    "batch_sizes", "deployment_modes",
)  # fmt: skip
WORKLOAD_FIELDS = ("prompt_tokens", "output_tokens", "requests_per_hour", "requests_per_s", "peak_to_mean")
CONSTRAINT_FIELDS = tuple(c.name for c in CONSTRAINTS)
LOAD_FIELDS = ("slo", "max_total_gpus", "max_utilization")
"""Constraints that size each configuration to its load (ComparisonSpec.sized)."""
PLAN_COMPARE_PRECISIONS = ("fp16", "bf16", "fp8", "int8", "int4-awq")
PLAN_COMPARE_TENSOR_PARALLEL = (1, 2, 4, 8)

ROW_FIELDS = (
    "model", "hardware", "precision", "framework", "tensor_parallel", "pipeline_parallel", "num_gpus",
    "requested_batch_size", "batch_size", "deployment_mode", "ttft_ms", "tpot_ms", "output_tokens_per_s",
    "memory_utilization", "replicas", "output_tokens_per_s_per_gpu", "ttft_p99_ms", "tpot_p99_ms",
    "utilization", "binding_constraint",
)  # fmt: skip


def engine_request(request: dict[str, Any]) -> dict[str, Any]:
    """The API's nested request ({grid, workload, constraints, objective, top_k}) as resolve_spec's flat
    dict (ComparisonSpec field names); absent or null values keep the engine's defaults."""
    raw: dict[str, Any] = {}
    for group in ("grid", "workload", "constraints"):
        raw.update({k: v for k, v in (request.get(group) or {}).items() if v is not None})
    for name in ("objective", "top_k"):
        if request.get(name) is not None:
            raw[name] = request[name]
    return raw


def _canonical_hash(spec: ComparisonSpec, snapshot: dict[str, Any]) -> str:
    """sha256 of what decides the result: the spec, the engine's view of each catalog row, the engine."""

    def strip(rows: dict[str, Any]) -> dict[str, Any]:
        return {key: {k: v for k, v in values.items() if k != "id"} for key, values in rows.items()}

    canonical = {
        "spec": spec.to_dict(),
        "models": strip(snapshot["models"]),
        "hardware": strip(snapshot["hardware"]),
        "engine_version": ENGINE_VERSION,
    }
    if snapshot.get("calibration"):
        canonical["calibration"] = snapshot["calibration"]["calibration"]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- Transient database errors ---------------------------------------------------------------------------

# A connection dropped by the server (restart, failover, pg_terminate_backend, an idle timeout) raises
# OperationalError or, once Django knows it is closed, InterfaceError; so does an SQLite file locked past
# its busy timeout. The same statements on a new connection usually succeed a moment later. Integrity and
# programming errors are not transient and are never retried.
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
# How long a worker keeps retrying one step (a database failover takes tens of seconds).
DATABASE_RETRY_S = 60.0


def database_retry(step, *args, what: str):
    """Run step(*args); on a transient database error close the connection and run the step again, waiting
    0.5 s, then twice as long each time up to 5 s, for at most DATABASE_RETRY_S; then the error propagates.

    Why not Celery's autoretry: a new message would find its chunk claimed (running) and skip it, and the
    evaluated result in this process would be lost until the reaper's time-limit rule returned the chunk.
    Every step given here is idempotent (conditional updates, upserts on (job, key)), so repeating one
    whose commit reached the server before the connection dropped changes nothing."""
    deadline = time.monotonic() + DATABASE_RETRY_S
    delay = 0.5
    retry = 0
    while True:
        retry += 1
        try:
            return step(*args)
        except TRANSIENT_DATABASE_ERRORS as error:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "%s: database error, retry %d in %.1fs on a new connection: %s: %s",
                what, retry, delay, type(error).__name__, str(error).strip(),
            )  # fmt: skip
            with contextlib.suppress(DatabaseError):
                connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


# --- Messages (sent after commit; tasks import this module, so they are imported lazily) -----------------


def _send_chunk(job_id: int, chunk_index: int) -> None:
    from planner.tasks import comparison_chunk

    comparison_chunk.apply_async(args=(job_id, chunk_index))


def _send_finalise(job_id: int) -> None:
    from planner.tasks import comparison_finalise

    comparison_finalise.apply_async(args=(job_id,))


# --- Submit, cancel, delete -------------------------------------------------------------------------------


def comparison_submit(
    *, user, team: Team, name: str, request: dict[str, Any], plan: Plan | None = None
) -> ComparisonJob:
    """Validate the request against the team's database catalog and queue the job.

    Raises calculator.planning.ComparisonError (unknown names, bad values, a grid over
    COMPARISON_MAX_CONFIGURATIONS) or PermissionDenied (the user may not submit in the team,
    planner.access) before anything is written."""
    access.require(user, "submit", team, kind="comparison")
    db = specs.catalog_from_db(team)
    spec = resolve_spec(
        engine_request(request), db.catalog, max_configurations=settings.COMPARISON_MAX_CONFIGURATIONS
    )
    chunks = plan_chunks(spec, settings.COMPARISON_CHUNK_CONFIGURATIONS)
    snapshot = specs.catalog_snapshot(db, models=spec.models, hardware=spec.hardware)
    snapshot["team_id"] = team.pk
    # The calibration named (else the team's default), frozen with the job like the catalog rows.
    _, calibration_row = calibrations.calibration_for(team, request.get("calibration"))
    if calibration_row is not None:
        snapshot["calibration"] = {
            "id": calibration_row.pk,
            "name": calibration_row.name,
            "calibration": calibration_row.calibration,
        }
    now = timezone.now()
    with transaction.atomic():
        _check_team_quota(team, spec.size)
        job = ComparisonJob.objects.create(
            name=name,
            team=team,
            created_by=user,
            plan=plan,
            request=request,
            spec=spec.to_dict(),
            spec_digest=spec.digest,
            catalog_snapshot=snapshot,
            inputs_hash=_canonical_hash(spec, snapshot),
            engine_version=ENGINE_VERSION,
            configurations_total=spec.size,
            chunks_total=len(chunks),
        )
        window = settings.COMPARISON_CHUNK_WINDOW
        ComparisonChunk.objects.bulk_create(
            ComparisonChunk(
                job=job,
                chunk_index=chunk.chunk_index,
                bounds=chunk.to_dict(),
                configurations=chunk.size(spec),
                enqueued_at=now if position < window else None,
            )
            for position, chunk in enumerate(chunks)
        )
        for chunk in chunks[:window]:
            send_after_commit(_send_chunk, job.pk, chunk.chunk_index)
    return job


def _release_chunks(job_id: int, count: int, now) -> int:
    """Send up to `count` more of a job's waiting chunks (pending, never sent), lowest index first; each
    is taken by a conditional update, so two writers releasing at once never send one chunk twice.
    Call inside a transaction: the messages go after commit."""
    sent = 0
    waiting = ComparisonChunk.objects.filter(
        job_id=job_id, status=ChunkStatus.PENDING, enqueued_at__isnull=True
    ).order_by("chunk_index")
    for pk, index in waiting.values_list("pk", "chunk_index")[: count + 2]:
        if sent >= count:
            break
        if ComparisonChunk.objects.filter(pk=pk, enqueued_at__isnull=True).update(enqueued_at=now):
            send_after_commit(_send_chunk, job_id, index)
            sent += 1
    return sent


class ComparisonQuotaExceeded(Exception):
    """A team's queued and running comparisons are at its limit (settings.COMPARISON_TEAM_MAX_*): 429."""


def _check_team_quota(team: Team, size: int) -> None:
    """Under the team's row lock (concurrent submissions of one team are counted one after another): refuse
    a job beyond the team's active-job or active-configuration limit."""
    Team.objects.select_for_update().filter(pk=team.pk).first()
    active = ComparisonJob.objects.filter(team=team, status__in=ComparisonJob.ACTIVE)
    jobs = active.count()
    configurations = active.aggregate(n=Sum("configurations_total"))["n"] or 0
    if jobs >= settings.COMPARISON_TEAM_MAX_ACTIVE_JOBS:
        raise ComparisonQuotaExceeded(
            f"the team already has {jobs} comparisons queued or running (at most "
            f"{settings.COMPARISON_TEAM_MAX_ACTIVE_JOBS}); wait for one to finish or cancel one"
        )
    if configurations + size > settings.COMPARISON_TEAM_MAX_ACTIVE_CONFIGURATIONS:
        raise ComparisonQuotaExceeded(
            f"{size:,} more configurations would make {configurations + size:,} queued or running for the "
            f"team (at most {settings.COMPARISON_TEAM_MAX_ACTIVE_CONFIGURATIONS:,})"
        )


def plan_compare_request(plan: Plan, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A comparison around a saved plan: its model and framework over every hardware entry, several
    precisions (the plan's first), TP 1/2/4/8 and the plan's batch size plus "auto", with its workload.
    `overrides` may replace grid, workload or constraint values, the objective and top_k."""
    overrides = overrides or {}
    inputs = plan.current_version.inputs if plan.current_version else {}
    precisions = list(dict.fromkeys([inputs.get("precision", "fp16"), *PLAN_COMPARE_PRECISIONS]))
    batch = inputs.get("batch_size") or 0
    requests_per_hour = inputs.get("requests_per_hour") or 0.0
    if not requests_per_hour and inputs.get("request_rate"):
        requests_per_hour = inputs["request_rate"] * 3600.0
    request = {
        "grid": {
            "models": [inputs.get("model")],
            "hardware": ["*"],
            "precisions": precisions,
            "frameworks": [inputs.get("framework", "vllm")],
            "tensor_parallel": list(PLAN_COMPARE_TENSOR_PARALLEL),
            "batch_sizes": [batch, "auto"] if batch else ["auto"],
            "deployment_modes": [inputs.get("deployment_mode", "cloud")],
        },
        "workload": {
            "prompt_tokens": inputs.get("prompt_tokens", 512),
            "output_tokens": inputs.get("output_tokens", 256),
            "requests_per_hour": requests_per_hour,
        },
        "constraints": {},
        "objective": "cost",
        "top_k": 100,
    }
    if inputs.get("calibration") is not None:
        request["calibration"] = inputs["calibration"]  # the plan's calibration, as its estimates use
    for group in ("grid", "workload", "constraints"):
        request[group].update(overrides.get(group) or {})
    for name in ("objective", "top_k", "calibration"):
        if overrides.get(name) is not None:
            request[name] = overrides[name]
    return request


def comparison_cancel(job: ComparisonJob, *, user=None) -> bool:
    """queued/running -> cancelled; False when the job had already ended. Chunk tasks still in the queue
    find the job ended and do nothing; a chunk being evaluated finishes but never finalises. Refused unless
    the user may cancel it (planner.access); `user=None` is the system (a cancelled plan, the admin)."""
    if user is not None:
        access.require(user, "cancel", job)
    now = timezone.now()
    who = getattr(user, "username", "") or "unknown"
    return bool(
        ComparisonJob.objects.filter(pk=job.pk, status__in=ComparisonJob.ACTIVE).update(
            status=Status.CANCELLED,
            finished_at=now,
            error_code="cancelled",
            error_message=f"Cancelled by {who}.",
        )
    )


def comparison_delete(job: ComparisonJob, *, user) -> None:
    """The job with its chunks and result rows (cascade); tasks still running for it write nothing."""
    access.require(user, "delete", job)
    job.delete()


def comparison_fail(job_id: int, code: str, message: str) -> bool:
    """queued/running -> failed with an error code and message; False when the job had already ended."""
    return bool(
        ComparisonJob.objects.filter(pk=job_id, status__in=ComparisonJob.ACTIVE).update(
            status=Status.FAILED, finished_at=timezone.now(), error_code=code, error_message=message[:2000]
        )
    )


# --- Engine inputs of a job, cached per worker process -----------------------------------------------------

_INPUTS: dict[tuple[int, str], tuple[ComparisonSpec, Catalog]] = {}


def _engine_inputs(job: ComparisonJob) -> tuple[ComparisonSpec, Catalog, Calibration]:
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
        spec, catalog, calibration = database_retry(_engine_inputs, job, what=f"{what} inputs")
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
        _release_chunks(job_id, 1, now)
        state = (
            ComparisonJob.objects.filter(pk=job_id).values("status", "chunks_done", "chunks_total").first()
        )
        if state and state["status"] == Status.RUNNING and state["chunks_done"] >= state["chunks_total"]:
            send_after_commit(_send_finalise, job_id)
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
            send_after_commit(_send_chunk, job.pk, chunk.chunk_index)
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
    spec, _catalog, _calibration = _engine_inputs(job)
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


def _feasible(row: ResultRow, spec: ComparisonSpec) -> bool:
    return all(
        (limit := getattr(spec, c.name)) is None or constraint_met(getattr(row, c.field), limit, c.sign)
        for c in CONSTRAINTS
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def result_rows(
    job_id: int, spec: ComparisonSpec, result: ComparisonResult, partials: list[PartialResult]
) -> list[ComparisonResultRow]:
    """One row per configuration the merge selected (top_k, Pareto front, best per hardware, per model,
    per objective) with its flags, plus, per constraint, the configuration closest to meeting it (these
    may be infeasible). Deterministic: the same partials give the same rows."""
    entries: dict[str, dict[str, Any]] = {}

    def add(row: ResultRow, **flags: Any) -> None:
        entry = entries.setdefault(
            row.key,
            {"row": row, "rank": None, "is_top": False, "hw": False, "model": False, "best_for": []},
        )
        for name, value in flags.items():
            if name == "best_for":
                entry["best_for"].append(value)
            else:
                entry[name] = value

    for row in result.top:
        add(row, rank=row.rank, is_top=True)
    for row in result.pareto:
        add(row)
    for row in result.best_by_hardware.values():
        add(row, hw=True)
    for row in result.best_by_model.values():
        add(row, model=True)
    for objective, row in result.best.items():
        add(row, best_for=objective)
    on_front = {row.key for row in result.pareto}
    for reason in CONSTRAINT_REASONS:
        candidates = [p.best_runnable[reason] for p in partials if reason in p.best_runnable]
        if candidates:
            add(min(candidates, key=lambda r, x=reason: (constraint_value(r, x), r.key)))

    rows = []
    for key in sorted(entries):
        entry = entries[key]
        row: ResultRow = entry["row"]
        feasible = _feasible(row, spec)
        order_value = _finite(rank_value(row, spec.objective)) if feasible else None
        rows.append(
            ComparisonResultRow(
                job_id=job_id,
                key=key,
                rank=entry["rank"],
                order_value=order_value,
                **{name: getattr(row, name) for name in ROW_FIELDS},
                cost_per_million_tokens_usd=_finite(row.cost_per_million_tokens_usd),
                **{name: _finite(getattr(row, name)) for name in SPLIT_FIELDS},
                monthly_cost_usd=_finite(row.monthly_cost_usd),
                score=_finite(row.score),
                feasible=feasible,
                is_top=entry["is_top"],
                is_pareto=key in on_front,
                is_best_for_hardware=entry["hw"],
                is_best_for_model=entry["model"],
                best_for=sorted(entry["best_for"]),
            )
        )
    return rows


def result_summary(result: ComparisonResult) -> dict[str, Any]:
    """Counts by reason, the best configuration per objective and the engine's recommendations."""
    return {
        "evaluated": result.evaluated,
        "feasible": result.feasible,
        "infeasible": sum(result.infeasible.values()),
        "infeasible_by_reason": {reason: n for reason, n in result.infeasible.items() if n},
        "unpriced": result.unpriced,
        "chunks": result.chunks,
        "top_count": len(result.top),
        "pareto_count": len(result.pareto),
        "best": {objective: row.to_dict() for objective, row in result.best.items()},
        "best_by_hardware": {name: row.key for name, row in result.best_by_hardware.items()},
        "best_by_model": {name: row.key for name, row in result.best_by_model.items()},
        "recommendations": list(result.recommendations),
    }


# --- Reaper ------------------------------------------------------------------------------------------------


def comparison_reap(now=None) -> dict[str, int]:
    """Return stale work to the queue or fail it; safe to run anywhere, any number of times at once."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "resent": 0, "released": 0, "finalise_resent": 0}
    stale_s = settings.WORKER_HEARTBEAT_STALE_S
    claimed_before = now - timedelta(seconds=stale_s)
    overdue_before = now - timedelta(seconds=settings.TASK_TIME_LIMIT_S + stale_s)
    live = set(live_workers().values_list("hostname", flat=True))
    max_attempts = settings.COMPARISON_MAX_ATTEMPTS

    running = ComparisonChunk.objects.filter(
        status=ChunkStatus.RUNNING, job__status__in=ComparisonJob.ACTIVE, started_at__lt=claimed_before
    ).values_list("pk", "job_id", "chunk_index", "attempts", "claimed_by", "started_at")
    for pk, job_id, index, attempts, claimed_by, started_at in running:
        lost = claimed_by not in live
        if not lost and started_at >= overdue_before:
            continue
        reason = (
            f"worker {claimed_by or '?'} stopped beating"
            if lost
            else f"ran past the {settings.TASK_TIME_LIMIT_S}s task time limit"
        )
        if attempts >= max_attempts:
            if comparison_fail(
                job_id,
                "worker_lost" if lost else "timeout",
                f"chunk {index} did not finish in {attempts} attempts (the last: {reason}); "
                f"giving up after COMPARISON_MAX_ATTEMPTS={max_attempts}.",
            ):
                counts["failed"] += 1
            continue
        with transaction.atomic():
            released = ComparisonChunk.objects.filter(
                pk=pk, status=ChunkStatus.RUNNING, attempts=attempts, claimed_by=claimed_by
            ).update(status=ChunkStatus.PENDING, claimed_by="", enqueued_at=now, last_error=reason)
            if released:
                send_after_commit(_send_chunk, job_id, index)
                counts["requeued"] += 1
                logger.warning("comparison %s chunk %s requeued: %s", job_id, index, reason)

    resend_before = now - timedelta(seconds=settings.COMPARISON_PENDING_RESEND_S)
    pending = ComparisonChunk.objects.filter(
        status=ChunkStatus.PENDING, job__status__in=ComparisonJob.ACTIVE, enqueued_at__lt=resend_before
    ).values_list("pk", "job_id", "chunk_index")
    for pk, job_id, index in pending:
        with transaction.atomic():
            if ComparisonChunk.objects.filter(
                pk=pk, status=ChunkStatus.PENDING, enqueued_at__lt=resend_before
            ).update(enqueued_at=now):
                send_after_commit(_send_chunk, job_id, index)
                counts["resent"] += 1

    window = settings.COMPARISON_CHUNK_WINDOW
    waiting_jobs = (
        ComparisonChunk.objects.filter(
            status=ChunkStatus.PENDING, enqueued_at__isnull=True, job__status__in=ComparisonJob.ACTIVE
        )
        .values_list("job_id", flat=True)
        .distinct()
    )
    for job_id in waiting_jobs:
        in_flight = ComparisonChunk.objects.filter(job_id=job_id, enqueued_at__isnull=False).exclude(
            status=ChunkStatus.DONE
        )
        with transaction.atomic():
            counts["released"] += _release_chunks(job_id, max(window - in_flight.count(), 0), now)

    finished = ComparisonJob.objects.filter(
        status=Status.RUNNING, chunks_done__gte=F("chunks_total"), heartbeat_at__lt=claimed_before
    ).values_list("pk", flat=True)
    for job_id in finished:
        with transaction.atomic():
            if ComparisonJob.objects.filter(
                pk=job_id, status=Status.RUNNING, heartbeat_at__lt=claimed_before
            ).update(heartbeat_at=now):
                send_after_commit(_send_finalise, job_id)
                counts["finalise_resent"] += 1
    return counts
