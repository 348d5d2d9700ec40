"""Worker liveness through the database.

Why not `celery inspect ping`: it needs broadcast (fanout) on the broker. kombu's filesystem transport has
fanout since kombu 5.3 (celery/kombu#1499), but its exchange bindings are never deleted, so the reply
queues of dead workers keep receiving every broadcast, and a ping costs the health check a full timeout.
A heartbeat row works the same way on SQLite + filesystem and on PostgreSQL + Redis, and the database
is what the rest of the service trusts anyway.

The thread runs in the worker's main process (worker_ready fires there after the pool has started), so
it keeps beating while a pool child is busy with a long task, and stops on worker_shutdown. The same thread
runs the comparison reaper every COMPARISON_REAP_INTERVAL_S, so `make run` needs no beat process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

logger = logging.getLogger(__name__)

_stop = threading.Event()
_thread: threading.Thread | None = None


def beat(hostname: str, *, pid: int | None = None, started_at=None) -> None:
    """Upsert this worker's row with last_seen_at = now."""
    from planner.models import WorkerHeartbeat

    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={"pid": pid or os.getpid(), "last_seen_at": now},
        create_defaults={"pid": pid or os.getpid(), "last_seen_at": now, "started_at": started_at or now},
    )


def live_workers():
    """Heartbeat rows fresher than WORKER_HEARTBEAT_STALE_S."""
    from planner.models import WorkerHeartbeat

    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_S)
    return WorkerHeartbeat.objects.filter(last_seen_at__gte=cutoff)


def _reap() -> None:
    """Periodic housekeeping that must run even while every pool process is busy: the comparison and
    calibration reapers (planner.services.comparison_reaper, planner.services.calibration_reaper). Every
    worker runs them; their updates are conditional."""
    from planner.services.calibration_reaper import calibration_reap
    from planner.services.comparison_reaper import comparison_reap

    counts = comparison_reap()
    if any(counts.values()):
        logger.info("comparison reaper: %s", counts)
    counts = calibration_reap()
    if any(counts.values()):
        logger.info("calibration reaper: %s", counts)


def _run(hostname: str) -> None:
    started_at = timezone.now()
    pid = os.getpid()
    next_reap = time.monotonic() + settings.COMPARISON_REAP_INTERVAL_S
    while True:
        try:
            close_old_connections()
            beat(hostname, pid=pid, started_at=started_at)
        except Exception:  # the database may be down or not migrated yet; keep trying
            logger.warning("worker heartbeat for %s failed", hostname, exc_info=True)
            connection.close()
        if time.monotonic() >= next_reap:
            next_reap = time.monotonic() + settings.COMPARISON_REAP_INTERVAL_S
            try:
                _reap()
            except Exception:
                logger.warning("comparison reaper failed", exc_info=True)
                connection.close()
        if _stop.wait(settings.WORKER_HEARTBEAT_INTERVAL_S):
            break
    try:
        from planner.models import WorkerHeartbeat

        WorkerHeartbeat.objects.filter(hostname=hostname, pid=pid).delete()
    except Exception:
        logger.warning("could not remove heartbeat row of %s", hostname, exc_info=True)
    finally:
        connection.close()


@worker_ready.connect
def start_heartbeat(sender=None, **kwargs) -> None:
    global _thread
    hostname = getattr(sender, "hostname", None) or f"unknown@{os.uname().nodename}"
    _stop.clear()
    _thread = threading.Thread(target=_run, args=(hostname,), name="planner-heartbeat", daemon=True)
    _thread.start()
    logger.info("heartbeat started for %s every %.1fs", hostname, settings.WORKER_HEARTBEAT_INTERVAL_S)


@worker_shutdown.connect
def stop_heartbeat(**kwargs) -> None:
    _stop.set()
    if _thread is not None:
        _thread.join(timeout=10)
