"""Progress bars for the long commands (calibrate, refit, big compare grids, validate over large files).

The engine reports progress through a plain callback, `ProgressCallback(stage, done, total)`, and never
imports rich; this module turns the calls into rich progress bars with the time elapsed and the time left,
one bar per stage, on stderr, so piped stdout (tables, JSON) stays clean. Nothing is drawn when stderr is
not a terminal (CI logs, pipes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from calculator.progress import ProgressCallback


@contextmanager
def progress_bars(console: Console | None = None, *, enabled: bool = True) -> Iterator[ProgressCallback]:
    """A ProgressCallback drawing one bar per stage on `console` (default: stderr), with ETA."""
    console = console or Console(stderr=True)
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars:
        yield update
