"""Messages to the workers, sent once the transaction that made their work commits."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import transaction


def send_after_commit(function: Callable[..., None], *args: object) -> None:
    """`function(*args)` after the current transaction commits. robust: a broker that is down must not turn
    a committed submission into a 500; the reapers resend what no worker took."""
    transaction.on_commit(functools.partial(function, *args), robust=True)
