"""A task goes through the real broker to a real `celery worker` subprocess and back into the database."""

import pytest

from planner.models import TaskProbe
from planner.tasks import record_probe

pytestmark = pytest.mark.django_db(transaction=True)


def test_record_probe_is_executed_by_a_real_worker(live_worker, poll):
    probe = TaskProbe.objects.create()

    record_probe.delay(probe.pk)

    done = poll(
        lambda: TaskProbe.objects.filter(pk=probe.pk, status=TaskProbe.Status.DONE).first(),
        timeout=60,
        message=f"worker never completed probe {probe.pk}:\n{live_worker.log_tail()}",
    )
    assert done.worker_hostname == live_worker.hostname
    assert done.result["pid"] != live_worker.pid or live_worker.is_alive()
    assert done.completed_at is not None


def test_several_probes_are_all_executed(live_worker, poll):
    probes = [TaskProbe.objects.create() for _ in range(3)]

    for probe in probes:
        record_probe.delay(probe.pk)

    ids = {probe.pk for probe in probes}
    poll(
        lambda: (
            set(
                TaskProbe.objects.filter(pk__in=ids, status=TaskProbe.Status.DONE).values_list(
                    "pk", flat=True
                )
            )
            == ids
        ),
        timeout=60,
        message=f"not all probes done:\n{live_worker.log_tail()}",
    )
