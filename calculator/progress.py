"""How long engine work reports its progress: a callback the caller passes in (the command line draws bars
with it, `calculator.cli_progress`; the service could log it), never a print."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

ProgressCallback = Callable[[str, int, int], None]
"""progress(stage, done, total): `done` of `total` units of `stage` are finished (called with 0 first)."""

T = TypeVar("T")


def reported(items: Iterable[T], total: int, stage: str, progress: ProgressCallback | None) -> Iterator[T]:
    """Yield `items`, reporting each one finished (0 of `total` before the first)."""
    if progress is None:
        yield from items
        return
    progress(stage, 0, total)
    for done, item in enumerate(items, 1):
        yield item
        progress(stage, done, total)
