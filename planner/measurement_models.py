"""A team's own benchmark measurements (issue: calibrate on your own benchmarks): each uploaded file is a
measurement set, one version of a named set, whose rows are stored in the calibration files' columns
(`calculator.measurements`). Imported by planner.models so Django registers the models with the app."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from planner.models import Team, TeamScopedQuerySet


class MeasurementSet(models.Model):
    class Kind(models.TextChoices):
        PERFORMANCE = "performance", "Performance (serving.csv columns)"
        MEMORY = "memory", "Memory (memory.csv columns)"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="measurement_sets")
    name = models.CharField(max_length=120)
    version = models.PositiveIntegerField(help_text="1 for a name's first upload; each re-upload adds one.")
    file_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=32, help_text="calculator.measurements.FORMATS key")
    file_sha256 = models.CharField(max_length=64)
    file_bytes = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    context = models.JSONField(default=dict, blank=True, help_text="What the upload stated beside the file.")
    row_count = models.PositiveIntegerField()
    rejected = models.JSONField(
        default=list, blank=True, help_text="Rows left out at upload, each {line, field, message}."
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="measurement_sets"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name", "version"], name="measurementset_unique_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="measurementset_version_positive"),
        ]
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.team})"


class Measurement(models.Model):
    """One measured figure, as a row of the calibration file (`fields`, every column a string); model,
    hardware, metric and value are copied out for listing and filtering."""

    measurement_set = models.ForeignKey(MeasurementSet, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="Line (or record) of the uploaded file it came from.")
    fields = models.JSONField()
    model = models.CharField(max_length=120)
    hardware = models.CharField(max_length=120)
    metric = models.CharField(max_length=64)
    value = models.FloatField()

    class Meta:
        ordering = ["measurement_set_id", "line", "id"]
        indexes = [models.Index(fields=["measurement_set", "metric"], name="measurement_set_metric")]

    def __str__(self) -> str:
        return f"{self.metric}={self.value:g} ({self.model} on {self.hardware}, line {self.line})"


class TeamCalibration(models.Model):
    """A calibration fitted on a team's measurement sets by a worker (`calculator.team_fit`), like a
    comparison job: this row is the truth about it. The rows it is fitted on are frozen at submission
    (`rows`), so deleting or re-uploading a set later does not change what this calibration was fitted on."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
    ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="calibrations")
    name = models.CharField(max_length=120)
    measurement_sets = models.ManyToManyField(MeasurementSet, related_name="calibrations", blank=True)
    rows = models.JSONField(help_text="The rows fitted on, each with _set (set id) and _line, as submitted.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=255, blank=True)
    engine_version = models.CharField(max_length=32)
    base = models.CharField(max_length=200, help_text="The shipped calibration it started from (its source).")
    calibration = models.JSONField(null=True, blank=True, help_text="calculator Calibration, as to_json()")
    report = models.JSONField(null=True, blank=True, help_text="calculator.team_fit report")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    objects = TeamScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"], name="calibration_team_created")]

    def __str__(self) -> str:
        return f"calibration {self.pk} {self.name!r} ({self.status})"
