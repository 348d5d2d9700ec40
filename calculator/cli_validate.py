"""`python -m calculator validate|calibrate`: the files, the JSON and the tables around `calculator.validate`
and `calculator.calibrate`, which take rows and return reports."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from calculator.calibrate import fit_calibration, split_rows
from calculator.calibration import Calibration
from calculator.cli_progress import progress_bars
from calculator.specs import Catalog
from calculator.validate import BREAKDOWN_METRICS, ValidationReport, breakdown, predict_rows

EXCLUSIONS_PATH = Path(__file__).parent / "data" / "exclusions.csv"
"""Rows the fit leaves out, with the reason (id, reason)."""


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """The rows of a measurements or memory CSV file, as text."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def load_exclusions(path: Path = EXCLUSIONS_PATH) -> dict[str, str]:
    """{row id: why it is left out of the fit}; empty where the file does not exist."""
    if not path.exists():
        return {}
    with open(path, newline="") as handle:
        return {row["id"]: row["reason"] for row in csv.DictReader(handle)}


def validate_file(
    paths: str | Path | Sequence[str | Path],
    *,
    calibration: Calibration | None = None,
    catalog: Catalog | None = None,
) -> ValidationReport:
    """Predict every row of one CSV file, or of several read together; files of LARGE_FILE_ROWS rows or
    more show a progress bar on a terminal."""
    files = [paths] if isinstance(paths, str | Path) else list(paths)
    rows = [row for path in files for row in read_rows(path)]
    with progress_bars(enabled=len(rows) >= LARGE_FILE_ROWS) as progress:
        return predict_rows(rows, calibration=calibration, catalog=catalog, progress=progress)


LARGE_FILE_ROWS = 10_000
"""Rows from which `validate` shows its progress (serving.csv's 5,930 take about a second)."""


def render_breakdown(report: ValidationReport, by: str, console: Console) -> None:
    table = Table(title=f"Median absolute error per {by} (rows)")
    table.add_column(by)
    present = [m for m in BREAKDOWN_METRICS if any(p.metric == m for p in report.predictions)]
    for metric in present:
        table.add_column(metric.removesuffix("_ms").removesuffix("_s").replace("_", " "), justify="right")
    for name, stats in breakdown(report, by).items():
        cells = [f"{stats[m]['median_ape']:.0%} ({stats[m]['n']})" if m in stats else "" for m in present]
        table.add_row(name, *cells)
    console.print(table)


def render_report(report: ValidationReport, console: Console) -> None:
    summary = report.summary()
    console.print(
        f"{summary['predicted']} of {summary['rows']} rows predicted; "
        f"{len(report.unresolved)} unresolved; {len(report.physics_violations)} roofline violations"
    )
    for title, groups in (("per metric", summary["metrics"]), ("per scenario", summary["scenarios"])):
        table = Table(title=f"Absolute percentage error {title}")
        for col in ("group", "n", "median", "mean", "within 25%", "median signed"):
            table.add_column(col, justify="right" if col != "group" else "left")
        for name, s in groups.items():
            table.add_row(
                name,
                str(s["n"]),
                f"{s['median_ape']:.1%}",
                f"{s['mean_ape']:.1%}",
                f"{s['within_25pct']:.0%}",
                f"{s['median_signed']:+.1%}",
            )
        console.print(table)
    for row_id, reason in report.unresolved:
        console.print(f"[red]unresolved[/] {row_id}: {reason}")


def run_calibration(
    files: list[str],
    *,
    out: str | None = None,
    console: Console | None = None,
    cross_validate_folds: bool = True,
    sweeps: int = 2,
) -> dict[str, Any]:
    """Fit on `files` (`calibrate.fit_calibration`), print the error tables and, with `out`, write the
    calibration JSON and its report (`<out stem>_report.json`) beside it. Returns the report."""
    console = console or Console()
    per_file = {str(f): read_rows(f) for f in files}
    rows = [row for file_rows in per_file.values() for row in file_rows]
    exclusions = load_exclusions()
    perf, mem_rows = split_rows(rows, exclusions)
    console.print(
        f"fitting on {len(perf)} performance rows, {len(mem_rows)} memory rows "
        f"({len(exclusions)} excluded, see {EXCLUSIONS_PATH.name})"
    )
    with progress_bars() as progress:
        final, report = fit_calibration(
            files,
            per_file,
            perf,
            mem_rows,
            excluded=len(exclusions),
            cross_validate_folds=cross_validate_folds,
            sweeps=sweeps,
            progress=progress,
        )
    if cross_validate_folds:
        _render_cv(report, console)
    if out:
        target = Path(out)
        target.write_text(final.to_json())
        console.print(f"wrote {target}")
        report_path = target.with_name(target.stem + "_report.json")
        report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        console.print(f"wrote {report_path}")
    _render_summary("in-sample", report["in_sample"]["metrics"], console)
    return report


def _render_summary(title: str, metrics: dict[str, dict[str, float]], console: Console) -> None:
    table = Table(title=f"{title}: absolute percentage error per metric")
    for col in ("metric", "n", "median", "mean", "within 25%"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for name, s in metrics.items():
        table.add_row(
            name, str(s["n"]), f"{s['median_ape']:.1%}", f"{s['mean_ape']:.1%}", f"{s['within_25pct']:.0%}"
        )
    console.print(table)


def _render_cv(report: dict[str, Any], console: Console) -> None:
    for key, title in (
        ("leave_one_source_out", "leave-one-source-out"),
        ("leave_one_hardware_out", "leave-one-hardware-out"),
    ):
        _render_summary(title, report[key]["metrics"], console)
        _render_summary(f"{title} (metric | scenario | family)", report[key]["detail"], console)
