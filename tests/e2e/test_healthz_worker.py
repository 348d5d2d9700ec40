"""/healthz against a real worker: 200 while it beats, 503 naming the worker once it is gone."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_is_200_with_a_real_worker_and_503_after_it_stops(client, live_worker_factory, poll):
    worker = live_worker_factory(name="health")

    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert worker.hostname in response.json()["checks"]["worker"]["hostnames"]

    worker.stop()

    response = poll(lambda: (r := client.get("/healthz")).status_code == 503 and r, timeout=30)
    assert response.json()["failing"] == ["worker"]
    assert response.json()["checks"]["worker"]["ok"] is False


def test_a_killed_worker_turns_stale(client, live_worker_factory, poll, settings):
    worker = live_worker_factory(name="killed")
    settings.WORKER_HEARTBEAT_STALE_S = 2.0

    worker.kill()

    response = poll(lambda: (r := client.get("/healthz")).status_code == 503 and r, timeout=30)
    assert response.json()["failing"] == ["worker"]
