"""Comparison jobs: what a request may hold, submit, cancel, delete, fail. A job ranks every combination
of a grid for one workload on the workers; how they run it is planner.services.comparison_worker.

The ComparisonJob row is the truth; every transition is a conditional UPDATE whose row count says whether
this caller won it, so any step may run twice (a redelivered message, a reaper's second message, two
workers) without changing the outcome:

  submit    validate against the database catalog (calculator.planning.resolve_spec), snapshot the rows
            used, plan the chunks; the job (queued) and its chunks (pending) in one transaction; one
            `planner.comparison_chunk` message per chunk of the first COMPARISON_CHUNK_WINDOW is sent after
            commit (the rest wait, enqueued_at empty; planner.services.comparison_messages).
  chunk     claim pending -> running (attempts + 1, claimed_by = the worker node); evaluate; write the
            partial result with not-done -> done, so exactly one writer counts the chunk's configurations
            into the job's progress and sends the job's next waiting chunk (the window moves on: jobs
            share the first-in-first-out queue chunk by chunk); the writer that brings chunks_done to
            chunks_total sends `planner.comparison_finalise` (planner.services.comparison_worker).
  finalise  merge every partial (merge_partials is order-independent and counts a chunk once), upsert the
            result rows on (job, key) and mark the job succeeded with its summary, in one transaction
            (planner.services.comparison_worker, the rows from planner.services.comparison_results).
  database  a dropped connection or a locked SQLite file in the middle of a step: the step runs again on a
            new connection (planner.services.retry); the steps are idempotent, so a repeat changes nothing.
  reap      run by every worker's heartbeat thread every COMPARISON_REAP_INTERVAL_S, by
            `manage.py reap_comparisons` and by the `planner.reap_comparisons` task: a running chunk whose
            worker stopped beating (or that outlived the task time limit) goes back to pending with a new
            message, or fails the job once it has been claimed COMPARISON_MAX_ATTEMPTS times; a pending
            chunk whose message is older than COMPARISON_PENDING_RESEND_S gets another message; a job with
            fewer than its window of chunks in flight (a release lost between commit and send) gets the
            next ones; a running job whose chunks are all done gets another finalise message
            (planner.services.comparison_reaper).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from calculator import ENGINE_VERSION
from calculator.planning import CONSTRAINTS, ComparisonSpec, plan_chunks, resolve_spec
from planner import access, specs
from planner.dispatch import send_after_commit
from planner.models import ComparisonChunk, ComparisonJob, Plan, Team
from planner.services import calibrations, comparison_messages

Status = ComparisonJob.Status

GRID_FIELDS = (
    "models", "hardware", "precisions", "frameworks", "framework_versions", "tensor_parallel",
    "pipeline_parallel", "num_gpus", "batch_sizes", "deployment_modes",
)  # fmt: skip
WORKLOAD_FIELDS = ("prompt_tokens", "output_tokens", "requests_per_hour", "requests_per_s", "peak_to_mean")
CONSTRAINT_FIELDS = tuple(c.name for c in CONSTRAINTS)
LOAD_FIELDS = ("slo", "max_total_gpus", "max_utilization")
"""Constraints that size each configuration to its load (ComparisonSpec.sized)."""
PLAN_COMPARE_PRECISIONS = ("fp16", "bf16", "fp8", "int8", "int4-awq")
PLAN_COMPARE_TENSOR_PARALLEL = (1, 2, 4, 8)


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


# --- Submit, cancel, delete, fail --------------------------------------------------------------------------


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
            send_after_commit(comparison_messages.send_chunk, job.pk, chunk.chunk_index)
    return job


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
