"""Team calibrations, fitted by a worker on the team's measurement sets (calculator.team_fit): submit, cancel,
delete, the team's default, and what an estimate runs on (calibration_for). Crash-safe like comparisons
(planner.services.comparisons): the job row is the truth, every step is a conditional update that is safe
to run twice; the fit itself is planner.services.calibration_worker, the reaper
planner.services.calibration_reaper."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from calculator import ENGINE_VERSION, InputError
from calculator.calibrate import MIN_ROWS
from calculator.calibration import Calibration, default_calibration
from calculator.validate import PERFORMANCE_METRICS
from planner import access
from planner.dispatch import send_after_commit
from planner.models import MeasurementSet, Team, TeamCalibration

Status = TeamCalibration.Status


def send_fit(job_id: int) -> None:
    """The `planner.calibration_fit` message (tasks import the services, so planner.tasks is imported here
    lazily). Callers pass it to send_after_commit through this module, so a test can replace it."""
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
        send_after_commit(send_fit, job.pk)
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
