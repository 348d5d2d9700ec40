"""Checks behind GET /healthz: database, broker, at least one live worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection


@dataclass
class Check:
    ok: bool
    detail: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, **self.extra}


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return Check(False, f"{type(exc).__name__}: {exc}")
    return Check(True, connection.vendor)


def check_broker(url: str | None = None) -> Check:
    from config.celery import app, ensure_broker_folders

    ensure_broker_folders()
    conn = app.connection_for_write(url) if url else app.connection_for_write()
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
        conn.default_channel  # noqa: B018 - opening a channel pings Redis
        transport = conn.transport_cls
    except Exception as exc:
        return Check(False, f"{type(exc).__name__}: {exc}")
    finally:
        conn.release()
    return Check(True, str(transport))


def check_worker() -> Check:
    from planner.heartbeat import live_workers

    try:
        hostnames = list(live_workers().order_by("hostname").values_list("hostname", flat=True))
    except Exception as exc:
        return Check(False, f"{type(exc).__name__}: {exc}")
    if not hostnames:
        return Check(False, "no Celery worker heartbeat in the last stale window", {"live": 0})
    return Check(True, f"{len(hostnames)} live", {"live": len(hostnames), "hostnames": hostnames})


def run_checks() -> dict[str, Check]:
    return {"database": check_database(), "broker": check_broker(), "worker": check_worker()}
