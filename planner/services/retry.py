"""Transient database errors (a dropped connection, an SQLite file locked past its busy timeout) and
database_retry, which runs an idempotent step again on a new connection; the comparison worker's steps and
finaliser run through it."""

from __future__ import annotations

import contextlib
import logging
import time

from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

# A connection dropped by the server (restart, failover, pg_terminate_backend, an idle timeout) raises
# OperationalError or, once Django knows it is closed, InterfaceError; so does an SQLite file locked past
# its busy timeout. The same statements on a new connection usually succeed a moment later. Integrity and
# programming errors are not transient and are never retried.
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
# How long a worker keeps retrying one step (a database failover takes tens of seconds).
DATABASE_RETRY_S = 60.0


def database_retry(step, *args, what: str):
    """Run step(*args); on a transient database error close the connection and run the step again, waiting
    0.5 s, then twice as long each time up to 5 s, for at most DATABASE_RETRY_S; then the error propagates.

    Why not Celery's autoretry: a new message would find its chunk claimed (running) and skip it, and the
    evaluated result in this process would be lost until the reaper's time-limit rule returned the chunk.
    Every step given here is idempotent (conditional updates, upserts on (job, key)), so repeating one
    whose commit reached the server before the connection dropped changes nothing."""
    deadline = time.monotonic() + DATABASE_RETRY_S
    delay = 0.5
    retry = 0
    while True:
        retry += 1
        try:
            return step(*args)
        except TRANSIENT_DATABASE_ERRORS as error:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "%s: database error, retry %d in %.1fs on a new connection: %s: %s",
                what, retry, delay, type(error).__name__, str(error).strip(),
            )  # fmt: skip
            with contextlib.suppress(DatabaseError):
                connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
