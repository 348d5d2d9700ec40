"""The comparison reaper: stale work returned to the queue or failed. Run by every worker's heartbeat thread
every COMPARISON_REAP_INTERVAL_S (planner.heartbeat), by `manage.py reap_comparisons` and by the
`planner.reap_comparisons` task; every update is conditional, so any number may run at once.

  - a running chunk whose worker stopped beating (or that outlived the task time limit) goes back to
    pending with a new message, or fails the job (`worker_lost` / `timeout`) once it has been claimed
    COMPARISON_MAX_ATTEMPTS times;
  - a pending chunk whose message is older than COMPARISON_PENDING_RESEND_S gets another message;
  - a job with fewer than its window of chunks in flight (a release lost between commit and send) gets the
    next ones;
  - a running job whose chunks are all done gets another finalise message."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from planner.dispatch import send_after_commit
from planner.heartbeat import live_workers
from planner.models import ComparisonChunk, ComparisonJob
from planner.services import comparison_messages
from planner.services.comparisons import comparison_fail

logger = logging.getLogger(__name__)

Status = ComparisonJob.Status
ChunkStatus = ComparisonChunk.Status


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
                send_after_commit(comparison_messages.send_chunk, job_id, index)
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
                send_after_commit(comparison_messages.send_chunk, job_id, index)
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
            counts["released"] += comparison_messages.release_chunks(
                job_id, max(window - in_flight.count(), 0), now
            )

    finished = ComparisonJob.objects.filter(
        status=Status.RUNNING, chunks_done__gte=F("chunks_total"), heartbeat_at__lt=claimed_before
    ).values_list("pk", flat=True)
    for job_id in finished:
        with transaction.atomic():
            if ComparisonJob.objects.filter(
                pk=job_id, status=Status.RUNNING, heartbeat_at__lt=claimed_before
            ).update(heartbeat_at=now):
                send_after_commit(comparison_messages.send_finalise, job_id)
                counts["finalise_resent"] += 1
    return counts
