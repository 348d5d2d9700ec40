"""A team's calibration from its own measurements, started from the shipped one and pooled towards it.

For each (framework family, hardware class) cell the team's rows measure (at least `calibrate.MIN_ROWS`), the
cell's efficiency parameters are fitted on those rows (`calibrate.fit_group`: Powell in log space) with the
shipped values as the prior: the penalty PRIOR_ROWS / n x sum of squared log ratios pulls them back as if the
shipped values were backed by PRIOR_ROWS rows (empirical-Bayes partial pooling, Gelman & Hill 2007, ch. 12),
so ten rows move only what they measure and a parameter they do not constrain stays where it was. Cells the
rows do not reach keep the shipped entries.

Cross-validation on the team's rows: leave-one-group-out where the rows come from two or more groups (the
uploaded files), k-fold (k = min(5, rows)) otherwise; the held-out median error per metric becomes the team
calibration's error band. Performance rows only (memory rows are reported, not fitted: the memory model has
no per-team parameters yet).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from calculator import calibrate
from calculator.calibrate import FITTED, MIN_ROWS, fit_group
from calculator.calibration import Calibration
from calculator.columns import hardware_class
from calculator.deployment import InputError
from calculator.specs import Catalog
from calculator.validate import predict_performance, prepare_performance, resolve_rows

FIT_SWEEPS = 2
"""Powell iterations per cell (as the shipped refits)."""
TEAM_PRIOR_ROWS = calibrate.PRIOR_ROWS
"""The shipped values count as this many rows against the team's, as a cell of the shipped fit counts its
parent's (calibrate.PRIOR_ROWS): a parameter moves a factor of ten (an overhead) or 1.5 (an efficiency) only
when that many rows' worth of error says so."""
PREFILL_METRICS = frozenset({"ttft_ms", "ttft_p90_ms", "ttft_p99_ms", "prefill_tokens_per_s"})
DECODE_PARAMS = (
    "bandwidth_efficiency",
    "compute_efficiency",
    "decode_step_overhead_s",
    "per_sequence_overhead_s",
)
PREFILL_PARAMS = ("compute_efficiency", "prefill_overhead_s")
"""What a team's rows can move: the efficiencies and host overheads their metrics measure (a cell's dozen
parameters on a few dozen rows overfit: 12 free parameters on 26 vLLM rows gave a 27% cross-validated TPOT
error against 4.6% shipped); the collective latency where rows run tensor-parallel."""
MAX_FOLDS = 5
DISAGREEING_ROWS = 20
"""Rows listed as disagreeing most with the fitted calibration (candidates for bad measurements)."""

Item = tuple[dict[str, str], Any]


@dataclass(frozen=True)
class TeamFit:
    calibration: Calibration
    report: dict[str, Any]


def usable_items(rows: Sequence[dict[str, str]], catalog: Catalog | None = None) -> tuple[list[Item], int]:
    """(row, Deployment) of each performance row the fit can use, and how many rows were left out."""
    items = resolve_rows(rows, catalog)[0]
    return items, len(rows) - len(items)


def cell_of(item: Item) -> str:
    d = item[1]
    return f"{d.framework.family}/{hardware_class(d.hardware.kind)}"


def params_for(items: list[Item]) -> tuple[str, ...]:
    """The parameters a cell's rows measure (PREFILL_PARAMS, DECODE_PARAMS, allreduce latency)."""
    metrics = {row["metric"] for row, _ in items}
    names: list[str] = []
    if metrics - PREFILL_METRICS:
        names += DECODE_PARAMS
    if metrics & PREFILL_METRICS:
        names += [n for n in PREFILL_PARAMS if n not in names]
    if any(d.tensor_parallel > 1 for _, d in items):
        names.append("allreduce_latency_s")
    return tuple(names)


def fit_cells(items: list[Item], base: Calibration, *, sweeps: int = FIT_SWEEPS) -> Calibration:
    """`base` with a "family/class" entry fitted for each cell with at least MIN_ROWS of `items`, every
    efficiency parameter started from and shrunk towards what `base` gives that cell."""
    cal = base
    cells: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        cells[cell_of(item)].append(i)
    for key, index in sorted(cells.items()):
        if len(index) < MIN_ROWS:
            continue
        family, cls = key.split("/")
        start = {n: base.param(family, cls, n) for n in FITTED}
        cell_items = [items[i] for i in index]
        names = params_for(cell_items)
        prep = prepare_performance(cell_items, cal)
        fitted = fit_group(
            prep, cal, key, start, sweeps=sweeps, names=names, parent=start, prior_rows=TEAM_PRIOR_ROWS
        )
        entry = {n: float(f"{fitted[n]:.6g}") for n in names}
        cal = replace(cal, entries={**cal.entries, key: {**cal.entries.get(key, {}), **entry}})
    return cal


def predict_items(items: list[Item], calibration: Calibration) -> np.ndarray:
    return predict_performance(prepare_performance(items, calibration), calibration)[0]


def _folds(items: list[Item], group_of: Callable[[dict[str, str]], str]) -> tuple[list[np.ndarray], str]:
    """Held-out masks: one per group (file) where there are 2 to MAX_FOLDS groups; more groups are dealt
    into MAX_FOLDS folds, largest first, each fold holding whole groups (a fit per fold bounds the time);
    one group is split into k row folds."""
    groups = [group_of(row) for row, _ in items]
    names = sorted(set(groups))
    if 2 <= len(names) <= MAX_FOLDS:
        return [np.array([g == name for g in groups]) for name in names], "leave-one-group-out"
    if len(names) > MAX_FOLDS:
        sizes = {name: groups.count(name) for name in names}
        fold_of: dict[str, int] = {}
        load = [0] * MAX_FOLDS
        for name in sorted(names, key=lambda n: (-sizes[n], n)):
            fold_of[name] = load.index(min(load))
            load[fold_of[name]] += sizes[name]
        masks = [np.array([fold_of[g] == j for g in groups]) for j in range(MAX_FOLDS)]
        return masks, f"{MAX_FOLDS} folds of whole groups ({len(names)} groups)"
    k = min(MAX_FOLDS, len(items))
    order = np.random.default_rng(0).permutation(len(items))
    return [np.isin(np.arange(len(items)), order[j::k]) for j in range(k)], f"{k}-fold"


def cross_validate(
    items: list[Item],
    base: Calibration,
    group_of: Callable[[dict[str, str]], str],
    *,
    sweeps: int = FIT_SWEEPS,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, str]:
    """Held-out prediction of every row (NaN where its fold left too few rows to fit), and the scheme."""
    held_out = np.full(len(items), np.nan)
    folds, scheme = _folds(items, group_of)
    for j, test in enumerate(folds):
        train = [items[i] for i in np.flatnonzero(~test)]
        cal = fit_cells(train, base, sweeps=sweeps) if train else base
        # All rows predicted together: a run's rows share what one of them says (a burst's notes).
        held_out[test] = predict_items(items, cal)[test]
        if progress:
            progress(j + 1, len(folds))
    return held_out, scheme


def _ape(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(predicted - measured) / np.abs(measured)


def _median(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(np.median(finite)), 4) if finite.size else None


def fit_team(
    rows: Sequence[dict[str, str]],
    base: Calibration,
    *,
    catalog: Catalog | None = None,
    name: str = "team",
    group_of: Callable[[dict[str, str]], str] = lambda row: row.get("source", ""),
    sweeps: int = FIT_SWEEPS,
    progress: Callable[[int, int], None] | None = None,
) -> TeamFit:
    """The team's calibration and its report: rows used, per metric the shipped and the team calibration's
    median error on the team's rows and the cross-validated one (the error band), the parameters that moved,
    the rows that disagree most, and every (measured, shipped, team) triple for the scatter."""
    started = time.perf_counter()
    items, left_out = usable_items(rows, catalog)
    if len(items) < MIN_ROWS:
        raise InputError(
            "measurement_sets", f"{len(items)} usable performance rows; at least {MIN_ROWS} needed"
        )
    steps = len(_folds(items, group_of)[0]) + 1

    def tick(done: int, _total: int) -> None:
        if progress:
            progress(done, steps)

    held_out, scheme = cross_validate(items, base, group_of, sweeps=sweeps, progress=tick)
    fitted = fit_cells(items, base, sweeps=sweeps)
    tick(steps, steps)
    measured = np.array([float(row["value"]) for row, _ in items])
    shipped = predict_items(items, base)
    team = predict_items(items, fitted)
    metrics = sorted({row["metric"] for row, _ in items})
    by_metric = {}
    bands: dict[str, dict[str, float]] = defaultdict(dict)
    for metric in metrics:
        mask = np.array([row["metric"] == metric for row, _ in items])
        cv = _median(_ape(held_out[mask], measured[mask]))
        by_metric[metric] = {
            "n": int(mask.sum()),
            "shipped": _median(_ape(shipped[mask], measured[mask])),
            "team": _median(_ape(team[mask], measured[mask])),
            "cross_validated": cv,
        }
        if cv is not None:
            for cell in {cell_of(items[i]) for i in np.flatnonzero(mask)}:
                in_cell = mask & np.array([cell_of(item) == cell for item in items])
                band = _median(_ape(held_out[in_cell], measured[in_cell]))
                if band is not None:
                    online = (
                        "online_"
                        if any(items[i][0].get("scenario") == "online_rate" for i in np.flatnonzero(in_cell))
                        else ""
                    )
                    bands[cell][online + metric] = band
    moved = {}
    for key, entry in fitted.entries.items():
        if base.entries.get(key) == entry:
            continue
        family, cls = key.split("/")
        moved[key] = {
            n: {
                "shipped": base.param(family, cls, n),
                "team": v,
                "ratio": round(v / base.param(family, cls, n), 4),
            }
            for n, v in entry.items()
            if base.param(family, cls, n) and abs(v / base.param(family, cls, n) - 1) > 1e-3
        }
    log_error = np.abs(np.log(np.maximum(team, 1e-300) / measured))
    worst = np.argsort(-np.where(np.isfinite(log_error), log_error, np.inf))[:DISAGREEING_ROWS]
    points = [
        {
            "line": _int(row.get("_line")),
            "set": row.get("_set", ""),
            "metric": row["metric"],
            "measured": float(measured[i]),
            "shipped": _finite(shipped[i]),
            "team": _finite(team[i]),
            "cross_validated": _finite(held_out[i]),
        }
        for i, (row, _) in enumerate(items)
    ]
    report = {
        "rows_used": len(items),
        "rows_left_out": left_out,
        "cells": sorted({cell_of(item) for item in items}),
        "cross_validation": scheme,
        "metrics": by_metric,
        "moved": moved,
        "disagreeing": [points[i] | {"ratio": _finite(team[i] / measured[i])} for i in worst],
        "points": points,
        "seconds": round(time.perf_counter() - started, 2),
    }
    memory, memory_report = fit_team_memory(rows, base, catalog)
    if memory_report:
        report["memory"] = memory_report
    meta = {**base.meta, "source": f"team:{name}", "team_rows": len(items), "base": base.meta.get("source")}
    calibration = replace(fitted, memory=memory, error_bands={**base.error_bands, **bands}, meta=meta)
    return TeamFit(calibration=calibration, report=report)


def fit_team_memory(
    rows: Sequence[dict[str, str]], base: Calibration, catalog: Catalog | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """The memory parameters (`calibrate.fit_memory`: vLLM's activation peak against the tokens a step
    batches, a median line) refitted on the team's memory rows where at least 3 vLLM logs give the peak,
    else the shipped ones; and per memory metric the shipped and the team's median error on the rows (in
    sample: three parameters, no held-out band)."""
    from calculator.validate import _predict_memory

    items = resolve_rows(rows, catalog)[1]
    peaks = [
        row for row, _ in items if row["metric"] == "activation_peak_gib" and row.get("framework") == "vllm"
    ]
    memory = dict(base.memory)
    if len(peaks) >= 3:
        memory = {**memory, **calibrate.fit_memory(peaks)}
    if not items:
        return memory, {}
    shipped = _predict_memory(items, base)
    team = _predict_memory(items, replace(base, memory=memory))
    report: dict[str, Any] = {
        "rows_used": len(items),
        "fitted": len(peaks) >= 3,
        "parameters": memory,
        "metrics": {},
    }
    for metric in sorted({row["metric"] for row, _ in items}):
        pick = [i for i, (row, _) in enumerate(items) if row["metric"] == metric]
        report["metrics"][metric] = {
            "n": len(pick),
            "shipped": _median(np.array([shipped[i].ape for i in pick])),
            "team": _median(np.array([team[i].ape for i in pick])),
        }
    return memory, report


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
