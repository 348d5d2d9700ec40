"""A team calibration fit on real workers: the worker fitting it is SIGKILLed mid-fit; the reaper in a
second worker requeues it and the second worker finishes it (never stuck, never half-written)."""

from __future__ import annotations

import pytest

from planner.models import Team, TeamCalibration
from planner.services import calibrations
from planner.services.measurements import Upload, measurement_set_upload
from tests.planner.conftest import HEADER, TEAM_ROWS

pytestmark = pytest.mark.django_db(transaction=True)

# The victim sleeps 3 s at each progress step (6 steps); the rescuer judges a worker dead 2 s after its last
# heartbeat and runs the reapers twice a second.
SLOW_FIT = {"PLANNER_CALIBRATION_FIT_DELAY_S": "3"}
RESCUER = {"PLANNER_WORKER_STALE_S": "2", "PLANNER_COMPARISON_REAP_S": "0.5"}


def test_a_worker_killed_mid_fit_is_replaced_and_the_fit_finishes(
    live_worker_factory, poll, seeded_catalog, planner_user
):
    team = Team.objects.get(slug="inference")
    data = ("\n".join([HEADER, *TEAM_ROWS]) + "\n").encode()
    measurement_set = measurement_set_upload(
        user=planner_user, team=team, upload=Upload(name="lab", file_name="lab.csv", data=data)
    )
    victim = live_worker_factory(name="victim", extra_env=SLOW_FIT)
    job = calibrations.calibration_submit(
        user=planner_user, team=team, name="survives", measurement_sets=[measurement_set]
    )
    poll(
        lambda: TeamCalibration.objects.filter(
            pk=job.pk, status="running", claimed_by=victim.hostname, progress__gt=0
        ).exists(),
        timeout=90,
        message=victim.log_tail(),
    )
    victim.kill()
    assert TeamCalibration.objects.get(pk=job.pk).status == "running"  # killed mid-fit, nothing written
    rescuer = live_worker_factory(name="rescuer", extra_env=RESCUER)

    done = poll(
        lambda: TeamCalibration.objects.filter(pk=job.pk, status__in=TeamCalibration.TERMINAL).first(),
        timeout=120,
        message=f"fit stuck:\n{rescuer.log_tail()}",
    )
    assert done.status == "succeeded", (done.error_code, done.error_message, rescuer.log_tail())
    assert done.attempts == 2 and done.claimed_by == rescuer.hostname
    assert "stopped beating" in done.error_message  # why it was retried
    assert done.report["rows_used"] == 6 and done.calibration["meta"]["source"] == "team:survives"
