"""Progress of the long commands: the engine reports (stage, done, total) through a callback, done never
falls and ends at the total; the command line draws it as bars on a terminal and nothing otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from calculator.cli_progress import progress_bars
from calculator.planning import resolve_spec, run_comparison
from calculator.progress import reported
from calculator.validate import resolve_rows
from tests.calculator.test_validate_serving import BASE


def _recorder() -> tuple[list[tuple[str, int, int]], object]:
    calls: list[tuple[str, int, int]] = []
    return calls, lambda stage, done, total: calls.append((stage, done, total))


def _monotone_to_total(calls: list[tuple[str, int, int]]) -> None:
    assert calls
    dones = [done for _, done, _ in calls]
    assert dones == sorted(dones) and dones[0] == 0
    assert dones[-1] == calls[-1][2]


def test_reported_yields_everything_and_reports_each_item():
    calls, progress = _recorder()
    assert list(reported(iter("abc"), 3, "letters", progress)) == ["a", "b", "c"]
    assert calls == [("letters", 0, 3), ("letters", 1, 3), ("letters", 2, 3), ("letters", 3, 3)]
    assert list(reported("ab", 2, "quiet", None)) == ["a", "b"]


def test_a_comparison_reports_its_configurations():
    spec = resolve_spec(
        {"models": ["llama-3.1-8b", "qwen2.5-7b"], "hardware": "*", "precisions": "*", "frameworks": "*"}
    )
    calls, progress = _recorder()
    result = run_comparison(spec, progress=progress, target=20_000)

    _monotone_to_total(calls)
    assert calls[-1][2] == spec.size == result.evaluated
    assert len(calls) > 3  # one call per chunk after the first


def test_validate_reports_each_row_mapped():
    rows = [{**BASE, "id": f"r{i}", "metric": "tpot_ms"} for i in range(7)]
    calls, progress = _recorder()
    perf, _mem, unresolved = resolve_rows(rows, progress=progress)

    assert len(perf) == 7 and not unresolved
    _monotone_to_total(calls)
    assert calls[-1] == ("rows mapped to deployments", 7, 7)


def test_bars_are_drawn_on_a_terminal_and_not_when_piped():
    terminal = io.StringIO()
    with progress_bars(Console(file=terminal, force_terminal=True, width=100)) as progress:
        for done in range(4):
            progress("leave one source out", done, 3)
    assert "leave one source out" in terminal.getvalue() and "3/3" in terminal.getvalue()

    piped = io.StringIO()
    with progress_bars(Console(file=piped, force_terminal=False)) as progress:
        progress("leave one source out", 3, 3)
    assert piped.getvalue() == ""
