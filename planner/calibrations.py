"""Team calibrations: fitted by a worker on the team's measurement sets (calculator.team_fit), crash-safe
like comparisons (planner.comparisons): the job row is the truth, every step is a conditional update that
is safe to run twice, a worker that stops beating has its job requeued (or failed with the reason after
CALIBRATION_MAX_ATTEMPTS), and a cancelled job's result is never written."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from calculator import ENGINE_VERSION, InputError
from calculator.calibrate import MIN_ROWS
from calculator.calibration import Calibration, default_calibration
from calculator.team_fit import fit_team
from calculator.validate import PERFORMANCE_METRICS
from planner import access
from planner.dispatch import send_after_commit
from planner.heartbeat import live_workers
from planner.models import MeasurementSet, Team, TeamCalibration

logger = logging.getLogger(__name__)
Status = TeamCalibration.Status
PROGRESS_WRITE_S = 1.0
"""Least seconds between two progress writes of one fit."""


class Cancelled(Exception):
    """The job left `running` while the fit ran (cancelled, reaped): its result must not be written."""


def _send(job_id: int) -> None:
    from planner.tasks import calibration_fit

    calibration_fit.apply_async(args=(job_id,))


# --- Submit, cancel, delete, default ---------------------------------------------------------------------


def calibration_submit(
    *, user, team: Team, name: str, measurement_sets: list[MeasurementSet]
) -> TeamCalibration:
    """Queue a fit on the performance rows of `measurement_sets` (all of `team`). 400 (InputError) when a
    set is another team's or the sets hold fewer than MIN_ROWS performance rows or more than
    CALIBRATION_MAX_ROWS."""
    access.require(user, "fit", team, kind="calibration")
    if not measurement_sets:
        raise InputError("measurement_sets", "choose at least one measurement set")
    foreign = [s.pk for s in measurement_sets if s.team_id != team.pk]
    if foreign:
        raise InputError("measurement_sets", f"sets {foreign} are not the team's")
    rows = []
    for measurement_set in measurement_sets:
        for m in measurement_set.rows.order_by("line", "id"):
            rows.append({**m.fields, "_set": str(measurement_set.pk), "_line": str(m.line)})
    performance = sum(row["metric"] in PERFORMANCE_METRICS for row in rows)
    if performance < MIN_ROWS:
        raise InputError(
            "measurement_sets", f"{performance} performance rows; a fit needs at least {MIN_ROWS}"
        )
    if len(rows) > settings.CALIBRATION_MAX_ROWS:
        raise InputError(
            "measurement_sets", f"{len(rows)} rows; at most {settings.CALIBRATION_MAX_ROWS} per fit"
        )
    with transaction.atomic():
        job = TeamCalibration.objects.create(
            team=team,
            name=name,
            rows=rows,
            engine_version=ENGINE_VERSION,
            base=str(default_calibration().meta.get("source", "shipped")),
            created_by=user,
        )
        job.measurement_sets.set(measurement_sets)
        send_after_commit(_send, job.pk)
    return job


def calibration_cancel(job: TeamCalibration, *, user) -> bool:
    access.require(user, "cancel", job)
    now = timezone.now()
    return bool(
        TeamCalibration.objects.filter(pk=job.pk, status__in=TeamCalibration.ACTIVE).update(
            status=Status.CANCELLED, finished_at=now
        )
    )


def calibration_delete(job: TeamCalibration, *, user) -> None:
    access.require(user, "delete", job)
    job.delete()  # a team whose default it was falls back to the shipped one (SET_NULL)


def calibration_set_default(team: Team, job: TeamCalibration | None, *, user) -> Team:
    """The team's default calibration (None: the shipped one); only a succeeded one of the team's."""
    access.require(user, "change", team)
    if job is not None and (job.team_id != team.pk or job.status != Status.SUCCEEDED):
        raise ValidationError(
            {"calibration": "Only a succeeded calibration of this team can be its default."}
        )
    Team.objects.filter(pk=team.pk).update(default_calibration=job)
    team.refresh_from_db(fields=["default_calibration"])
    return team


def calibration_fail(job_id: int, code: str, message: str) -> bool:
    return bool(
        TeamCalibration.objects.filter(pk=job_id, status__in=TeamCalibration.ACTIVE).update(
            status=Status.FAILED, error_code=code, error_message=message[:2000], finished_at=timezone.now()
        )
    )


# --- Use ---------------------------------------------------------------------------------------------------


def engine_calibration(job: TeamCalibration | None) -> Calibration:
    """The engine's Calibration of a succeeded team calibration (the shipped one for None)."""
    if job is None:
        return default_calibration()
    if job.status != Status.SUCCEEDED or not job.calibration:
        raise InputError("calibration", f"calibration {job.pk} has not succeeded (it is {job.status})")
    return Calibration.from_dict(job.calibration)


def calibration_for(
    team: Team | int | None, calibration_id: Any
) -> tuple[Calibration, TeamCalibration | None]:
    """What an estimate for `team` (a row or an id) runs on: the named calibration (one of the team's,
    succeeded), else the team's default (read now: another request may have changed it), else the shipped
    one."""
    team_id = team.pk if isinstance(team, Team) else team
    if calibration_id in (None, "", "shipped"):
        job = None
        if team_id is not None and calibration_id is None:
            default = Team.objects.filter(pk=team_id).values("default_calibration")
            job = TeamCalibration.objects.filter(pk__in=default).first()
        return engine_calibration(job), job
    try:
        pk = int(calibration_id)
    except (TypeError, ValueError):
        raise InputError("calibration", f"a calibration id or 'shipped', got {calibration_id!r}") from None
    job = TeamCalibration.objects.filter(pk=pk, team_id=team_id).first() if team_id is not None else None
    if job is None:
        raise InputError("calibration", f"no calibration {pk} in this team")
    return engine_calibration(job), job


# --- Worker ------------------------------------------------------------------------------------------------


def _claim(job_id: int, worker: str) -> TeamCalibration | None:
    """queued -> running for this worker (attempts + 1); the job, or None when it was not queued."""
    now = timezone.now()
    claimed = TeamCalibration.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        attempts=F("attempts") + 1,
        claimed_by=worker,
        started_at=now,
        heartbeat_at=now,
        progress=0.0,
    )
    if not claimed:
        return None
    return TeamCalibration.objects.filter(pk=job_id, status=Status.RUNNING, claimed_by=worker).first()


def calibration_run(job_id: int, *, worker: str) -> str:
    """Claim, fit and write one calibration. Returns "done", "skipped" (not queued: taken, ended or gone),
    "cancelled" (left running while fitting; nothing written) or "failed" (the fit raised; the reason is on
    the job)."""
    job = _claim(job_id, worker)
    if job is None:
        return "skipped"
    attempt = job.attempts
    mine = TeamCalibration.objects.filter(
        pk=job_id, status=Status.RUNNING, claimed_by=worker, attempts=attempt
    )
    last_write = [0.0]

    def progress(done: int, total: int) -> None:
        if settings.CALIBRATION_FIT_DELAY_S:
            time.sleep(settings.CALIBRATION_FIT_DELAY_S)
        now = timezone.now()
        if now.timestamp() - last_write[0] < PROGRESS_WRITE_S and done < total:
            return
        last_write[0] = now.timestamp()
        if not mine.update(progress=min(done / max(total, 1), 0.99), heartbeat_at=now):
            raise Cancelled

    try:
        fit = fit_team(
            job.rows,
            default_calibration(),
            name=job.name,
            group_of=lambda r: r.get("_set", ""),
            progress=progress,
        )
    except Cancelled:
        return "cancelled"
    except Exception as error:  # SoftTimeLimitExceeded included: the job fails with the reason
        logger.exception("calibration %s failed on %s", job_id, worker)
        code = "invalid" if isinstance(error, InputError) else "fit_error"
        calibration_fail(job_id, code, f"{type(error).__name__}: {error}")
        return "failed"
    written = mine.update(
        status=Status.SUCCEEDED,
        progress=1.0,
        calibration=json.loads(fit.calibration.to_json()),
        report=fit.report,
        finished_at=timezone.now(),
    )
    return "done" if written else "cancelled"


def calibration_reap(now=None) -> dict[str, int]:
    """Requeue fits whose worker stopped beating (or that ran past the time limit), failing them with the
    reason after CALIBRATION_MAX_ATTEMPTS; resend queued fits no worker took. Safe anywhere, any number of
    times at once (every update is conditional)."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    stale_s = settings.WORKER_HEARTBEAT_STALE_S
    stale_before = now - timedelta(seconds=stale_s)
    overdue_before = now - timedelta(seconds=settings.TASK_TIME_LIMIT_S + stale_s)
    live = set(live_workers().values_list("hostname", flat=True))
    max_attempts = settings.CALIBRATION_MAX_ATTEMPTS
    running = TeamCalibration.objects.filter(
        status=Status.RUNNING, heartbeat_at__lt=stale_before
    ).values_list("pk", "attempts", "claimed_by", "started_at")
    for pk, attempts, claimed_by, started_at in running:
        lost = claimed_by not in live
        if not lost and started_at >= overdue_before:
            continue
        reason = f"worker {claimed_by or '?'} stopped beating" if lost else "ran past the task time limit"
        if attempts >= max_attempts:
            if calibration_fail(
                pk, "worker_lost" if lost else "timeout", f"{reason}; gave up after {attempts} attempts"
            ):
                counts["failed"] += 1
            continue
        with transaction.atomic():
            if TeamCalibration.objects.filter(
                pk=pk, status=Status.RUNNING, attempts=attempts, claimed_by=claimed_by
            ).update(status=Status.QUEUED, claimed_by="", error_message=reason, heartbeat_at=now):
                send_after_commit(_send, pk)
                counts["requeued"] += 1
                logger.warning("calibration %s requeued: %s", pk, reason)
    resend_before = now - timedelta(seconds=settings.COMPARISON_PENDING_RESEND_S)
    waiting = (
        TeamCalibration.objects.filter(status=Status.QUEUED)
        .filter(created_at__lt=resend_before)
        .exclude(heartbeat_at__gte=resend_before)
        .values_list("pk", flat=True)
    )
    for pk in waiting:
        with transaction.atomic():
            if TeamCalibration.objects.filter(pk=pk, status=Status.QUEUED).update(heartbeat_at=now):
                send_after_commit(_send, pk)
                counts["resent"] += 1
    return counts
