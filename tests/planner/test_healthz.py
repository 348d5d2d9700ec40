"""GET /healthz without a real worker: heartbeat rows are written directly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from planner import health
from planner.heartbeat import beat
from planner.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def test_healthz_is_503_naming_the_worker_when_no_worker_beats(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failing"] == ["worker"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is False


def test_healthz_is_200_with_a_fresh_heartbeat(client):
    beat("fresh@localhost")

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert body["checks"]["worker"]["hostnames"] == ["fresh@localhost"]


def test_healthz_treats_a_stale_heartbeat_as_dead(client, settings):
    long_ago = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_S + 1)
    WorkerHeartbeat.objects.create(
        hostname="stale@localhost", pid=1, started_at=long_ago, last_seen_at=long_ago
    )

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]


def test_healthz_names_the_broker_when_it_is_down(client, monkeypatch):
    beat("fresh@localhost")
    monkeypatch.setattr(health, "check_broker", lambda: health.Check(False, "ConnectionRefusedError"))

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


def test_check_broker_reports_an_unreachable_redis():
    check = health.check_broker("redis://127.0.0.1:1/0")

    assert check.ok is False
    assert check.detail


def test_beat_updates_the_same_row():
    beat("one@localhost", pid=10)
    first = WorkerHeartbeat.objects.get(hostname="one@localhost")

    beat("one@localhost", pid=10)

    second = WorkerHeartbeat.objects.get(hostname="one@localhost")
    assert WorkerHeartbeat.objects.count() == 1
    assert second.started_at == first.started_at
    assert second.last_seen_at >= first.last_seen_at


def test_healthz_rejects_post(client):
    response = client.post("/healthz")

    assert response.status_code == 405
