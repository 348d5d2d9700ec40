"""Measurement sets in the API: the upload form (multipart: the file, a name, the team, and what the file
does not state) and the read shapes."""

from __future__ import annotations

from rest_framework import serializers

from calculator.measurements import CONTEXT_FIELDS, FORMATS
from planner.api.serializers import VisibleRelatedField
from planner.models import Measurement, MeasurementSet, Team, TeamCalibration


class MeasurementSetUploadSerializer(serializers.Serializer):
    team = VisibleRelatedField(queryset=Team.objects.all())
    name = serializers.CharField(max_length=120)
    file = serializers.FileField(allow_empty_file=True)
    format = serializers.ChoiceField(
        choices=sorted(FORMATS), required=False, help_text="Sniffed if left out."
    )
    confirm_partial = serializers.BooleanField(
        default=False, help_text="Store the valid rows of a partly invalid file (the others are listed)."
    )
    # What the file does not state (never guessed): each optional, each used only where the file is silent.
    model = serializers.CharField(max_length=120, required=False)
    hardware = serializers.CharField(max_length=120, required=False)
    num_gpus = serializers.IntegerField(min_value=1, max_value=4096, required=False)
    precision = serializers.CharField(max_length=32, required=False)
    framework = serializers.CharField(max_length=64, required=False)
    framework_version = serializers.CharField(max_length=64, required=False)
    tp = serializers.IntegerField(min_value=1, max_value=1024, required=False)
    pp = serializers.IntegerField(min_value=1, max_value=1024, required=False)
    scenario = serializers.CharField(max_length=32, required=False)
    kv_cache_precision = serializers.CharField(max_length=32, required=False)
    max_model_len = serializers.IntegerField(min_value=1, max_value=100_000_000, required=False)
    gpu_memory_utilization = serializers.FloatField(min_value=0.01, max_value=1.0, required=False)

    def context_fields(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.validated_data.items() if k in CONTEXT_FIELDS}


assert set(CONTEXT_FIELDS) <= set(MeasurementSetUploadSerializer._declared_fields), (
    "a context field has no input"
)


class MeasurementSetSerializer(serializers.ModelSerializer):
    team_name = serializers.CharField(source="team.name", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True, default=None)
    url = serializers.HyperlinkedIdentityField(view_name="measurement-set-detail")
    rows_url = serializers.HyperlinkedIdentityField(view_name="measurement-set-rows")

    class Meta:
        model = MeasurementSet
        fields = (
            "id", "url", "rows_url", "team", "team_name", "name", "version", "kind", "file_name",
            "file_format", "file_sha256", "file_bytes", "context", "row_count", "rejected", "uploaded_by",
            "uploaded_at",
        )  # fmt: skip
        read_only_fields = fields


class MeasurementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Measurement
        fields = ("id", "line", "model", "hardware", "metric", "value", "fields")
        read_only_fields = fields


class CalibrationCreateSerializer(serializers.Serializer):
    team = VisibleRelatedField(queryset=Team.objects.all())
    name = serializers.CharField(max_length=120)
    measurement_sets = VisibleRelatedField(
        queryset=MeasurementSet.objects.all(), many=True, help_text="Ids of the team's measurement sets."
    )


class CalibrationSerializer(serializers.ModelSerializer):
    """List output: identity, status and progress."""

    team_name = serializers.CharField(source="team.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    url = serializers.HyperlinkedIdentityField(view_name="calibration-detail")
    is_team_default = serializers.SerializerMethodField()

    class Meta:
        model = TeamCalibration
        fields = (
            "id", "url", "team", "team_name", "name", "status", "progress", "attempts", "engine_version",
            "base", "created_by", "created_at", "started_at", "finished_at", "error_code", "error_message",
            "is_team_default",
        )  # fmt: skip
        read_only_fields = fields

    def get_is_team_default(self, job: TeamCalibration) -> bool:
        return job.team.default_calibration_id == job.pk


class CalibrationDetailSerializer(CalibrationSerializer):
    """One calibration: the report (errors per metric before and after, the parameters that moved, the
    rows that disagree most, every point of the scatter) and the sets it was fitted on."""

    measurement_sets = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    rows_used = serializers.SerializerMethodField()
    download_url = serializers.HyperlinkedIdentityField(view_name="calibration-download")

    class Meta(CalibrationSerializer.Meta):
        fields = (
            *CalibrationSerializer.Meta.fields,
            "measurement_sets",
            "rows_used",
            "report",
            "download_url",
        )
        read_only_fields = fields

    def get_rows_used(self, job: TeamCalibration) -> int:
        return len(job.rows or [])
