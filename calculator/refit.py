"""Refit one framework family's entries on newer measurements (an engine era), cross-validated within them,
leaving every other entry of the calibration as it is.

`python -m calculator calibrate` fits everything on the older files (measurements, measured/, memory) with
both cross-validations; refitting it with serving.csv's 5,930 rows would need about 200 folds. This refits
only the family the new rows measure: its "family/*" entry, then a "family/class" cell per hardware class
with enough rows, software parameters only (`fit_family`), each started from what the lookup gives without
the family (and its older build) and shrunk towards it, as `calibrate.fit_performance` does; then
leave-one-source-out and leave-one-hardware-out folds of this same fit give the family's error bands
(`calibrate.error_bands`).

Closed-loop benchmark rows (N requests in flight, no rate) are fitted on TTFT and end-to-end latency too:
the serving model holds both the clients' first wave (all N prompts at once) and the steady prefill queue of
N circulating clients (`serving.online_operating_point`), and those rows are most of what measures a modern
engine's prefill (its eager per-expert cost, `expert_overhead_s`, has no other evidence).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from calculator.calibrate import FITTED, MIN_ROWS, error_bands, fit_group
from calculator.calibration import FAMILY_PARENT, SOFTWARE_PARAMS, Calibration, load_calibration
from calculator.catalog import default_catalog
from calculator.cli_validate import read_rows
from calculator.columns import HARDWARE_CLASSES, hardware_class
from calculator.deployment import InputError
from calculator.progress import ProgressCallback, reported
from calculator.validate import predict_performance, prepare_performance, resolve_rows

Item = tuple[dict[str, str], Any]


def family_items(files: list[str], family: str) -> list[Item]:
    """(row, Deployment) for every performance row of `family` in `files` the fit may use."""
    items = resolve_rows([row for path in files for row in read_rows(path)], default_catalog())[0]
    return [(row, d) for row, d in items if d.framework.family == family]


def _without(calibration: Calibration, families: set[str]) -> Calibration:
    entries = {k: v for k, v in calibration.entries.items() if k.split("/")[0] not in families}
    return replace(calibration, entries=entries)


def fit_family(items: list[Item], calibration: Calibration, family: str, *, sweeps: int = 2) -> Calibration:
    """`calibration` with the family's entries refitted on `items` (all of that family)."""
    older = {build for build, framework in FAMILY_PARENT.items() if framework == family}
    others = _without(calibration, {family, *older})
    # Start from what the lookup gives without the family or its older builds: an older build starts from
    # (and is shrunk towards) its framework's entries, a framework from the hardware classes' and the global
    # ones, not an older era's.
    cal = _without(calibration, {family})
    entries: dict[str, dict[str, float]] = {}
    classes = np.array([hardware_class(d.hardware.kind) for _, d in items])

    def fit(key: str, mask: np.ndarray, names: tuple[str, ...], probe_class: str) -> None:
        nonlocal cal
        if mask.sum() < MIN_ROWS:
            return
        start = {n: (others if key.endswith("/*") else cal).param(family, probe_class, n) for n in FITTED}
        prep = prepare_performance([items[i] for i in np.flatnonzero(mask)], cal)
        fitted = fit_group(prep, cal, key, start, sweeps=sweeps, names=names, parent=start)
        entries[key] = {n: float(f"{fitted[n]:.6g}") for n in names}
        cal = replace(cal, entries={**cal.entries, key: entries[key]})

    # An engine era differs from the last in what its software costs (host overheads per step, layer,
    # sequence and prefill; collective latency), not in what the hardware achieves: only those are refitted,
    # so the hardware classes' efficiencies (fitted on every framework's rows) stay as they are.
    fit(f"{family}/*", np.ones(len(items), dtype=bool), SOFTWARE_PARAMS, HARDWARE_CLASSES[0])
    for cls in HARDWARE_CLASSES:
        fit(f"{family}/{cls}", classes == cls, SOFTWARE_PARAMS, cls)
    return cal


def _fold(args: tuple[list[Item], list[Item], Calibration, str, int]) -> dict[str, tuple[float, float]]:
    train, test, calibration, family, sweeps = args
    cal = fit_family(train, calibration, family, sweeps=sweeps)
    values, _ = predict_performance(prepare_performance(test, cal), cal)
    return {row["id"]: (float(row["value"]), float(v)) for (row, _), v in zip(test, values, strict=True)}


def cross_validate_family(
    items: list[Item],
    calibration: Calibration,
    family: str,
    key: Callable[[dict[str, str]], str],
    *,
    sweeps: int = 2,
    progress: ProgressCallback | None = None,
    stage: str = "cross-validation folds",
) -> dict[str, tuple[float, float]]:
    """Refit the family without each group of its rows and predict them: {row id: (measured, predicted)};
    `progress` hears of each finished fold."""
    folds = []
    for group in sorted({key(row) for row, _ in items}):
        held = np.array([key(row) == group for row, _ in items])
        if held.all():
            continue
        train = [items[i] for i in np.flatnonzero(~held)]
        test = [items[i] for i in np.flatnonzero(held)]
        folds.append((train, test, calibration, family, sweeps))
    out: dict[str, tuple[float, float]] = {}
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for part in reported(pool.map(_fold, folds), len(folds), stage, progress):
            out.update(part)
    return out


def refit_family(
    files: list[str],
    family: str,
    *,
    calibration_path: str | None = None,
    out: str | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Refit `family` on `files`, cross-validate it and write the calibration (to `out`, default: in place).
    Returns the report: rows, in-sample and cross-validated median APE per metric, the new entries."""
    path = Path(calibration_path) if calibration_path else Path(__file__).parent / "data" / "calibration.json"
    calibration = load_calibration(path)
    items = family_items(files, family)
    if len(items) < MIN_ROWS:
        raise InputError("files", f"only {len(items)} usable {family} rows")
    fitted = fit_family(items, calibration, family)
    loso = cross_validate_family(
        items,
        calibration,
        family,
        lambda r: r.get("source", ""),
        progress=progress,
        stage="leave one source out",
    )
    loho = cross_validate_family(
        items,
        calibration,
        family,
        lambda r: r.get("hardware", ""),
        progress=progress,
        stage="leave one hardware out",
    )
    bands = {k: v for k, v in error_bands(items, loso, loho).items() if k.split("/")[0] == family}
    kept = {k: v for k, v in calibration.error_bands.items() if k.split("/")[0] != family}
    in_sample, _ = predict_performance(prepare_performance(items, fitted), fitted)

    def medians(pairs: dict[str, tuple[float, float]] | None) -> dict[str, float]:
        by: dict[str, list[float]] = {}
        for i, (row, _) in enumerate(items):
            if pairs is None:
                measured, predicted = float(row["value"]), float(in_sample[i])
            elif row["id"] in pairs:
                measured, predicted = pairs[row["id"]]
            else:
                continue
            by.setdefault(row["metric"], []).append(abs(predicted - measured) / abs(measured))
        return {m: round(float(np.median(v)), 4) for m, v in sorted(by.items())}

    report = {
        "family": family,
        "files": [Path(f).name for f in files],
        "rows": len(items),
        "in_sample": medians(None),
        "leave_one_source_out": medians(loso),
        "leave_one_hardware_out": medians(loho),
        "entries": {k: v for k, v in fitted.entries.items() if k.split("/")[0] == family},
    }
    refits = [r for r in calibration.meta.get("refits", []) if r.get("family") != family]
    refits.append(
        {
            "family": family,
            "files": report["files"],
            "rows": len(items),
            "date": date.today().isoformat(),
        }
    )
    final = replace(fitted, error_bands={**kept, **bands}, meta={**calibration.meta, "refits": refits})
    Path(out or path).write_text(final.to_json())
    return report
