from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per Celery worker node, refreshed every few seconds while it runs (planner.heartbeat)."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname} (pid {self.pid}, last seen {self.last_seen_at:%Y-%m-%d %H:%M:%S})"


class TaskProbe(models.Model):
    """A row a worker fills in to prove that enqueue -> broker -> worker -> database works end to end."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    result = models.JSONField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"probe {self.pk} ({self.status})"
