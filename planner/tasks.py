from __future__ import annotations

import logging
import os

from celery import shared_task
from django.utils import timezone

from planner.models import TaskProbe
from planner.services import calibration_worker, comparison_reaper, comparison_worker, comparisons, retry

logger = logging.getLogger(__name__)


@shared_task(name="planner.record_probe", bind=True)
def record_probe(self, probe_id: int) -> None:
    """Mark a TaskProbe done with the worker's identity. Idempotent: a rerun writes the same fields."""
    updated = TaskProbe.objects.filter(pk=probe_id).update(
        status=TaskProbe.Status.DONE,
        result={"pid": os.getpid(), "task_id": self.request.id},
        worker_hostname=self.request.hostname or "",
        completed_at=timezone.now(),
    )
    if not updated:
        logger.warning("record_probe: probe %s does not exist", probe_id)


# Comparison tasks: thin wrappers over planner.services.comparison_worker and comparison_reaper (the job
# row is the truth; every step is safe to run twice). acks_late + reject_on_worker_lost are the global
# defaults (config/settings.py), repeated here because these tasks rely on them; time limits are the global
# CELERY_TASK_*_TIME_LIMIT.


@shared_task(name="planner.comparison_chunk", bind=True, acks_late=True, reject_on_worker_lost=True)
def comparison_chunk(self, job_id: int, chunk_index: int) -> str:
    """Evaluate one chunk of a comparison and store its partial result."""
    outcome = comparison_worker.comparison_chunk_run(job_id, chunk_index, worker=self.request.hostname or "")
    logger.info("comparison %s chunk %s: %s", job_id, chunk_index, outcome)
    return outcome


@shared_task(name="planner.comparison_finalise", bind=True, acks_late=True, reject_on_worker_lost=True)
def comparison_finalise(self, job_id: int) -> str:
    """Merge a comparison's chunks into its result rows and summary once every chunk is done."""
    try:
        outcome = comparison_worker.comparison_finalise(job_id)
    except retry.TRANSIENT_DATABASE_ERRORS:
        # The database stayed unreachable through every retry: that is no fault of the job, and failing it
        # would need the database too. It stays running with every chunk done; the reaper sends another
        # finalise once its heartbeat is older than WORKER_HEARTBEAT_STALE_S.
        logger.exception("comparison %s: finalise deferred, the database is unreachable", job_id)
        return "deferred"
    except Exception as error:
        logger.exception("comparison %s: finalise failed", job_id)
        comparisons.comparison_fail(job_id, "finalise_error", f"{type(error).__name__}: {error}")
        return "failed"
    logger.info("comparison %s finalise: %s", job_id, outcome)
    return outcome


@shared_task(name="planner.reap_comparisons", acks_late=True, reject_on_worker_lost=True)
def reap_comparisons() -> dict:
    """Requeue or fail stale comparison work (also run by every worker's heartbeat thread)."""
    return comparison_reaper.comparison_reap()


@shared_task(name="planner.calibration_fit", bind=True, acks_late=True, reject_on_worker_lost=True)
def calibration_fit(self, job_id: int) -> str:
    """Fit one team calibration (planner.services.calibration_worker.calibration_run: claim, fit, write;
    safe twice)."""
    outcome = calibration_worker.calibration_run(job_id, worker=self.request.hostname or "")
    logger.info("calibration %s: %s", job_id, outcome)
    return outcome
