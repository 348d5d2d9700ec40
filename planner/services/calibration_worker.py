"""A worker fitting one team calibration (the `planner.calibration_fit` task): claim the queued job, fit it
with progress written as it goes, write the result only while the claim still holds (a cancelled or reaped
job's result is never written)."""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from calculator import InputError
from calculator.calibration import default_calibration
from calculator.team_fit import fit_team
from planner.models import TeamCalibration
from planner.services.calibrations import calibration_fail

logger = logging.getLogger(__name__)
Status = TeamCalibration.Status
PROGRESS_WRITE_S = 1.0
"""Least seconds between two progress writes of one fit."""


class Cancelled(Exception):
    """The job left `running` while the fit ran (cancelled, reaped): its result must not be written."""


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
