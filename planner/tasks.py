from __future__ import annotations

import logging
import os

from celery import shared_task
from django.utils import timezone

from planner.models import TaskProbe

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
