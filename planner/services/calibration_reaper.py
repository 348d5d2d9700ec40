"""The calibration reaper, run by every worker's heartbeat thread (planner.heartbeat): a fit whose worker
stopped beating (or that ran past the task time limit) is queued again, or failed with the reason after
CALIBRATION_MAX_ATTEMPTS; a queued fit whose message no worker took gets another."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from planner.dispatch import send_after_commit
from planner.heartbeat import live_workers
from planner.models import TeamCalibration
from planner.services import calibrations

logger = logging.getLogger(__name__)
Status = TeamCalibration.Status


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
            if calibrations.calibration_fail(
                pk, "worker_lost" if lost else "timeout", f"{reason}; gave up after {attempts} attempts"
            ):
                counts["failed"] += 1
            continue
        with transaction.atomic():
            if TeamCalibration.objects.filter(
                pk=pk, status=Status.RUNNING, attempts=attempts, claimed_by=claimed_by
            ).update(status=Status.QUEUED, claimed_by="", error_message=reason, heartbeat_at=now):
                send_after_commit(calibrations.send_fit, pk)
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
                send_after_commit(calibrations.send_fit, pk)
                counts["resent"] += 1
    return counts
