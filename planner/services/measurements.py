"""Upload a team's benchmark file as a measurement set: parsed and checked by `calculator.measurements`,
stored in one transaction (all rows or none), numbered per (team, name) under a lock on the team row."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from calculator.measurements import MeasurementFileError, RowError, parse_measurements
from planner import access, specs
from planner.models import Measurement, MeasurementSet, Team


class PartialFile(ValueError):
    """Some rows are bad: nothing is stored until the upload is repeated with confirm_partial."""

    def __init__(self, good: int, errors: list[RowError]):
        super().__init__(f"{len(errors)} of {good + len(errors)} rows are invalid")
        self.good = good
        self.errors = errors


@dataclass
class Upload:
    """What an upload states: the file and, for what it does not say, the context fields."""

    name: str
    file_name: str
    data: bytes
    format_name: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    confirm_partial: bool = False


def measurement_set_upload(*, user, team: Team, upload: Upload) -> MeasurementSet:
    """Parse, check and store the file. Raises MeasurementFileError (the whole file is unusable: its line and
    field), PartialFile (bad rows and confirm_partial not given: nothing stored) or PermissionDenied."""
    access.require(user, "upload", team, kind="measurements")
    catalog = specs.catalog_from_db(team).catalog
    result = parse_measurements(
        upload.data,
        file_name=upload.file_name,
        format_name=upload.format_name,
        context=upload.context,
        catalog=catalog,
        max_bytes=settings.MEASUREMENT_UPLOAD_MAX_BYTES,
    )
    if result.errors and not (upload.confirm_partial and result.rows):
        if not result.rows:
            first = result.errors[0]
            raise MeasurementFileError(
                f"no valid rows ({len(result.errors)} invalid; the first: {first.message})",
                line=first.line,
                field=first.field,
            )
        raise PartialFile(len(result.rows), result.errors)
    with transaction.atomic():
        # Versions of one name are numbered under the team row's lock: two uploads never take the same one.
        Team.objects.select_for_update().only("pk").get(pk=team.pk)
        last = MeasurementSet.objects.filter(team=team, name=upload.name).aggregate(v=Max("version"))["v"]
        measurement_set = MeasurementSet.objects.create(
            team=team,
            name=upload.name,
            version=(last or 0) + 1,
            file_name=upload.file_name[:255],
            file_format=result.format,
            file_sha256=hashlib.sha256(upload.data).hexdigest(),
            file_bytes=len(upload.data),
            kind=result.kind,
            context={k: v for k, v in upload.context.items() if v not in (None, "")},
            row_count=len(result.rows),
            rejected=[e.as_dict() for e in result.errors],
            uploaded_by=user,
        )
        Measurement.objects.bulk_create(
            [
                Measurement(
                    measurement_set=measurement_set,
                    line=row.line,
                    fields=row.fields,
                    model=row.fields["model"][:120],
                    hardware=row.fields["hardware"][:120],
                    metric=row.fields["metric"][:64],
                    value=float(row.fields["value"]),
                )
                for row in result.rows
            ],
            batch_size=1000,
        )
    return measurement_set


def measurement_set_delete(measurement_set: MeasurementSet, *, user) -> None:
    access.require(user, "delete", measurement_set)
    measurement_set.delete()
