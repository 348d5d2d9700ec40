"""Fit the efficiency factors on measured data and cross-validate them.

Parameters (per framework family and hardware class, see calibration.py): achieved fraction of peak memory
bandwidth, compute and link rate, fixed overhead per decode step, per prefill and per layer, host overhead
per sequence per step (the large-batch curve). Fitted hierarchically so every configuration has a value:
"*/*" on all rows, then "*/class", "family/*" and "family/class" on their own rows (at least MIN_ROWS), each
starting from and shrunk towards its parent (partial pooling, PRIOR_ROWS). Objective: mean
|log(predicted / measured)| (an L1 fit in log space: robust, median-seeking), minimised by Powell's method
(scipy) in log-parameter space.
Rows named in data/exclusions.csv are left out of the fit with their reason; validation still predicts them.

Cross-validation refits on all rows but one source (leave-one-source-out) or one hardware entry
(leave-one-hardware-out) and predicts the held-out rows; the held-out error is the one reported.

Rows and exclusions come in as data; reading the files, writing the calibration and its report and printing
the tables are the command line's (`calculator.cli_validate.run_calibration`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from calculator.calibration import (
    DEFAULT_PATH,
    FAMILIES,
    HARDWARE_PARAMS,
    MEMORY_PRIORS,
    SOFTWARE_PARAMS,
    Calibration,
)
from calculator.catalog import default_catalog
from calculator.columns import HARDWARE_CLASSES, hardware_class
from calculator.progress import ProgressCallback, reported
from calculator.validate import (
    MEMORY_METRICS,
    PERFORMANCE_METRICS,
    PreparedPerformance,
    _memory_deployment,
    _performance_deployment,
    predict_performance,
    predict_rows,
    prepare_performance,
)

MIN_ROWS = 3
"""Rows a class, family or cell needs before it gets its own entry."""
PRIOR_ROWS = 5.0
"""Shrinkage: an entry's parameters are pulled towards its parent's as if the parent were backed by this
many rows (penalty PRIOR_ROWS / n x sum of squared log ratios), so a group of a few rows moves its values
only as far as its evidence warrants (empirical-Bayes partial pooling, Gelman & Hill 2007, ch. 12)."""
BOUNDS: dict[str, tuple[float, float]] = {
    "bandwidth_efficiency": (0.05, 0.95),
    "compute_efficiency": (0.02, 1.0),
    "decode_step_overhead_s": (0.0, 0.05),
    "prefill_overhead_s": (0.0, 0.2),
    "layer_overhead_s": (0.0, 0.002),  # eager PyTorch: ~0.4 ms per layer (calibration.FAMILY_PRIORS)
    "per_sequence_overhead_s": (0.0, 0.002),
    "expert_overhead_s": (0.0, 1e-4),
    "allreduce_latency_s": (0.0, 0.002),
    "link_efficiency": (0.001, 1.0),
    "dequant_efficiency": (0.2, 1.0),
    "flops_per_watt": (2e11, 1e13),
}
FITTED = tuple(BOUNDS)
PRIOR_SPREAD = {
    **{name: np.log(10.0) for name in BOUNDS},
    **{name: np.log(1.5) for name in ("bandwidth_efficiency", "compute_efficiency", "dequant_efficiency")},
    "flops_per_watt": np.log(100.0),
}
"""How far (log ratio) an entry may plausibly sit from its parent: memory and compute efficiencies of one
hardware class differ by tens of percent; fixed overheads and the achieved link rate depend on the
framework's kernels and collectives (llama.cpp's 2023 row split gathers through the host) and differ by an
order of magnitude; the power cap's prior is "none" (1e13 FLOP/s per W), which says nothing about where a
class's cap lies, so it is barely pulled."""
SHRINK_FLOOR = {name: (0.0 if low > 0 else high * 0.01) for name, (low, high) in BOUNDS.items()}
"""Added to both sides of a log ratio so overheads that may be 0 still have a finite distance."""
LOG_CLIP = float(np.log(4.0))


def _loss(pred: np.ndarray, measured: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(np.log(pred / measured))
    err = np.where(np.isfinite(err), err, LOG_CLIP)
    return float(np.mean(np.minimum(err, LOG_CLIP)))


def fit_group(
    prep: PreparedPerformance,
    calibration: Calibration,
    key: str,
    start: dict[str, float],
    sweeps: int = 2,
    names: tuple[str, ...] | None = None,
    parent: dict[str, float] | None = None,
    prior_rows: float = PRIOR_ROWS,
) -> dict[str, float]:
    """Fit the parameters `names` (default: all) of entry `key` over `prep`'s rows, shrunk towards `parent`
    (as if it were backed by `prior_rows` rows, see PRIOR_ROWS) when given; `sweeps` bounds the Powell
    iterations."""
    measured = prep.measured
    params = dict(start)
    weight = prior_rows / max(len(measured), 1)

    def penalty(candidate: dict[str, float]) -> float:
        if parent is None:
            return 0.0
        return weight * sum(
            (
                float(np.log((candidate[n] + SHRINK_FLOOR[n]) / (parent[n] + SHRINK_FLOOR[n])))
                / PRIOR_SPREAD[n]
            )
            ** 2
            for n in names or FITTED
        )

    def loss_of(candidate: dict[str, float]) -> float:
        cal = replace(calibration, entries={**calibration.entries, key: candidate})
        return _loss(predict_performance(prep, cal)[0], measured) + penalty(candidate)

    free = names or FITTED
    floor = np.array([SHRINK_FLOOR[n] for n in free])
    low = np.log(np.array([BOUNDS[n][0] for n in free]) + floor)
    high = np.log(np.array([BOUNDS[n][1] for n in free]) + floor)

    def unpack(u: np.ndarray) -> dict[str, float]:
        values = np.exp(np.clip(u, low, high)) - floor
        return {**params, **{n: float(max(v, BOUNDS[n][0])) for n, v in zip(free, values, strict=True)}}

    # Powell's method in log space: its line searches span each parameter's whole range and its conjugate
    # directions follow coupled valleys (bandwidth efficiency against per-layer overhead) that a
    # one-parameter-at-a-time search stalls in.
    u0 = np.clip(np.log(np.array([params[n] for n in free]) + floor), low, high)
    result = minimize(
        lambda u: loss_of(unpack(u)),
        u0,
        method="Powell",
        bounds=list(zip(low, high, strict=True)),
        options={"maxiter": sweeps, "xtol": 1e-3, "ftol": 1e-6},
    )
    if result.fun <= loss_of(params):
        params = unpack(result.x)
    return params


def _subset(items: list, mask: np.ndarray) -> list:  # type: ignore[type-arg]
    return [item for item, keep in zip(items, mask, strict=True) if keep]


def fit_performance(
    items: list[tuple[dict[str, str], Any]], *, base: Calibration | None = None, sweeps: int = 4
) -> Calibration:
    """Hierarchical fit on performance rows (items are (row, Deployment) pairs)."""
    calibration = base or Calibration()
    families = np.array([FAMILIES.index(d.framework.family) for _, d in items])
    classes = np.array([HARDWARE_CLASSES.index(hardware_class(d.hardware.kind)) for _, d in items])
    entries: dict[str, dict[str, float]] = {}

    def fit(key: str, mask: np.ndarray, names: tuple[str, ...]) -> None:
        nonlocal calibration
        if mask.sum() < MIN_ROWS and key != "*/*":
            return
        # Start from what the lookup gives these rows now (the wider entries: this one is not fitted yet)
        # and shrink towards it; store only the fitted parameters, so every other one falls through to
        # wider entries.
        family, cls = key.split("/")
        probe = (family if family != "*" else FAMILIES[0], cls if cls != "*" else HARDWARE_CLASSES[0])
        start = {n: calibration.param(*probe, n) for n in FITTED}
        parent = None if key == "*/*" else start
        prep = prepare_performance(_subset(items, mask), calibration)
        fitted = fit_group(prep, calibration, key, start, sweeps=sweeps, names=names, parent=parent)
        entries[key] = {n: fitted[n] for n in names}
        calibration = replace(calibration, entries=dict(entries))

    # Global first; then what each hardware class achieves (efficiencies, from every framework's rows on
    # it); then what each framework costs (overheads, on every class); then cells.
    fit("*/*", np.ones(len(items), dtype=bool), FITTED)
    for j, cls in enumerate(HARDWARE_CLASSES):
        fit(f"*/{cls}", classes == j, HARDWARE_PARAMS)
    for i, fam in enumerate(FAMILIES):
        fit(f"{fam}/*", families == i, SOFTWARE_PARAMS)
    for i, fam in enumerate(FAMILIES):
        for j, cls in enumerate(HARDWARE_CLASSES):
            fit(f"{fam}/{cls}", (families == i) & (classes == j), FITTED)
    return replace(
        calibration, entries={k: {n: float(f"{v:.6g}") for n, v in e.items()} for k, e in entries.items()}
    )


def fit_memory(rows: list[dict[str, str]]) -> dict[str, float]:
    """Least squares for vLLM's profiled activation peak: peak = base + factor x N x vocab x 2 bytes."""
    catalog = default_catalog()
    xs, ys = [], []
    for row in rows:
        if row.get("metric") != "activation_peak_gib" or row.get("framework") != "vllm":
            continue
        try:
            d = _memory_deployment(row, catalog)
        except (KeyError, ValueError):
            continue
        xs.append(d.framework.max_num_batched_tokens * d.model.vocab_size * 2.0)
        ys.append(float(row["value"]) * 2**30)
    if len(xs) < 3:
        return dict(MEMORY_PRIORS)
    x, y = np.array(xs), np.array(ys)
    # Median-based line fit (Theil-Sen slope) keeps a few outlying logs from moving it.
    slopes = [
        (y[j] - y[i]) / (x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x)) if x[j] != x[i]
    ]
    factor = float(np.median(slopes))
    base = float(np.median(y - factor * x))
    return {"logits_factor": round(factor, 4), "hidden_factor": 0.0, "base_bytes": round(max(base, 0.0), 0)}


def split_rows(
    rows: list[dict[str, str]], exclusions: dict[str, str]
) -> tuple[list[tuple[dict[str, str], Any]], list[dict[str, str]]]:
    """(performance rows with their deployments, memory rows) the fit uses: rows named in `exclusions` and
    performance rows that map to no deployment are left out."""
    catalog = default_catalog()
    perf, mem = [], []
    for row in rows:
        if row.get("id") in exclusions:
            continue
        if row.get("metric") in PERFORMANCE_METRICS:
            try:
                perf.append((row, _performance_deployment(row, catalog)))
            except (KeyError, ValueError):
                continue
        elif row.get("metric") in MEMORY_METRICS:
            mem.append(row)
    return perf, mem


def _fold(
    args: tuple[list[tuple[dict[str, str], Any]], list[tuple[dict[str, str], Any]], int, dict[str, float]],
) -> dict[str, tuple[float, float]]:
    train, test, sweeps, memory = args
    cal = fit_performance(train, base=Calibration(memory={**MEMORY_PRIORS, **memory}), sweeps=sweeps)
    values, _ = predict_performance(prepare_performance(test, cal), cal)
    return {row["id"]: (float(row["value"]), float(v)) for (row, _), v in zip(test, values, strict=True)}


def cross_validate(
    items: list[tuple[dict[str, str], Any]],
    key: Callable[[dict[str, str]], str],
    *,
    sweeps: int,
    memory: dict[str, float],
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    stage: str = "cross-validation folds",
) -> dict[str, tuple[float, float]]:
    """Refit without each group of rows and predict them: {row id: (measured, predicted)}.
    Folds run in parallel processes (one per core by default); `progress` hears of each finished fold."""
    folds = []
    for group in sorted({key(row) for row, _ in items}):
        held = np.array([key(row) == group for row, _ in items])
        if held.all():
            continue
        folds.append((_subset(items, ~held), _subset(items, held), sweeps, memory))
    out: dict[str, tuple[float, float]] = {}
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        results = map(_fold, folds)
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(_fold, folds)
    for part in reported(results, len(folds), stage, progress):
        out.update(part)
    if workers != 1:
        pool.shutdown()
    return out


def _stats(pairs: list[tuple[float, float]]) -> dict[str, float]:
    ape = np.array([abs(p - m) / abs(m) for m, p in pairs])
    return {
        "n": len(pairs),
        "median_ape": round(float(np.median(ape)), 4),
        "mean_ape": round(float(np.mean(ape)), 4),
        "within_25pct": round(float(np.mean(ape <= 0.25)), 4),
    }


def error_table(
    items: list[tuple[dict[str, str], Any]],
    cv: dict[str, tuple[float, float]],
    group: Callable[[dict[str, str], Any], str],
) -> dict[str, dict[str, float]]:
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row, d in items:
        if row["id"] in cv:
            buckets[group(row, d)].append(cv[row["id"]])
    return {k: _stats(v) for k, v in sorted(buckets.items())}


def error_bands(
    items: list[tuple[dict[str, str], Any]],
    loso: dict[str, tuple[float, float]],
    loho: dict[str, tuple[float, float]],
) -> dict[str, dict[str, float]]:
    """Cross-validated median APE per "family/class" (and "family/*", "*/*") and metric: leave-one-source-out
    where the group's rows come from two or more sources; where they come from one, holding it out removes
    the framework (or class) from the fit altogether, which is not the estimate a user gets, so the group's
    leave-one-hardware-out error is its band."""
    bands: dict[str, dict[str, list[tuple[float, float, str]]]] = defaultdict(lambda: defaultdict(list))
    for row, d in items:
        if row["id"] not in loso or row["id"] not in loho:
            continue
        (m, p_source), (_, p_hardware) = loso[row["id"]], loho[row["id"]]
        apes = (abs(p_source - m) / abs(m), abs(p_hardware - m) / abs(m), row.get("source", ""))
        cls = hardware_class(d.hardware.kind)
        # Online (queueing) rows get their own metric names: an estimate's headline figures are the
        # single-stream, static-batch and max-throughput ones, whose error the online rows would distort.
        metric = ("online_" if row.get("scenario") == "online_rate" else "") + row["metric"]
        for key in (f"{d.framework.family}/{cls}", f"{d.framework.family}/*", "*/*"):
            bands[key][metric].append(apes)
    out: dict[str, dict[str, float]] = {}
    for key, metrics in bands.items():
        for metric, values in metrics.items():
            if len(values) < 3:
                continue
            column = 0 if len({source for _, _, source in values}) >= 2 else 1
            out.setdefault(key, {})[metric] = round(float(np.median([v[column] for v in values])), 4)
    return out


def fit_calibration(
    files: Sequence[str],
    per_file: dict[str, list[dict[str, str]]],
    perf: list[tuple[dict[str, str], Any]],
    mem_rows: list[dict[str, str]],
    *,
    excluded: int,
    cross_validate_folds: bool = True,
    sweeps: int = 2,
    progress: ProgressCallback | None = None,
) -> tuple[Calibration, dict[str, Any]]:
    """The calibration fitted on the rows of `files` (`per_file`: each file's rows, split by `split_rows`
    into `perf` and `mem_rows`; `excluded` rows were left out), with its error bands and provenance, and the
    report: the in-sample error and, with `cross_validate_folds`, both cross-validations' error tables."""
    rows = [row for file_rows in per_file.values() for row in file_rows]
    file_of = {row["id"]: f for f, file_rows in per_file.items() for row in file_rows}
    memory = fit_memory(mem_rows) if mem_rows else dict(MEMORY_PRIORS)
    fitted = fit_performance(perf, base=Calibration(memory=memory), sweeps=sweeps)
    in_sample = predict_rows(rows, calibration=fitted)
    report: dict[str, Any] = {"in_sample": in_sample.summary()}
    bands: dict[str, dict[str, float]] = {}
    if cross_validate_folds:
        loso = cross_validate(
            perf,
            lambda r: r.get("source", ""),
            sweeps=sweeps,
            memory=memory,
            progress=progress,
            stage="leave one source out",
        )
        loho = cross_validate(
            perf,
            lambda r: r.get("hardware", ""),
            sweeps=sweeps,
            memory=memory,
            progress=progress,
            stage="leave one hardware out",
        )

        # Each cross-validation's error, grouped four ways (row, Deployment) -> group label.
        groupings: dict[str, Callable[[dict[str, str], Any], str]] = {
            "metrics": lambda r, d: r["metric"],
            "detail": lambda r, d: f"{r['metric']} | {r['scenario']} | {d.framework.family}",
            "sources": lambda r, d: f"{r['metric']} | {r['source']}",
            "files": lambda r, d: f"{r['metric']} | {file_of[r['id']]}",
        }
        for name, cv in (("leave_one_source_out", loso), ("leave_one_hardware_out", loho)):
            report[name] = {table: error_table(perf, cv, group) for table, group in groupings.items()}
        bands = error_bands(perf, loso, loho)
        # Memory rows fit nothing per row (vLLM's two activation constants aside): their in-sample error is
        # the band.
        memory_errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for p in in_sample.predictions:
            if p.metric in MEMORY_METRICS:
                for key in (f"{p.family}/*", "*/*"):
                    memory_errors[key][p.metric].append(p.ape)
        for key, metrics in memory_errors.items():
            bands.setdefault(key, {}).update(
                {m: round(float(np.median(v)), 4) for m, v in metrics.items() if len(v) >= 3}
            )
    final = replace(
        fitted,
        error_bands=bands,
        meta={
            "source": "calculator/data/calibration.json",
            "fitted_on": [Path(f).name for f in files],
            "rows": len(perf),
            "excluded": excluded,
            "date": date.today().isoformat(),
            "method": "hierarchical partial pooling, Powell's method on mean |log error|; error bands = "
            "leave-one-source-out median APE (leave-one-hardware-out where a group has a single source)",
        },
    )
    return final, report


__all__ = [
    "DEFAULT_PATH",
    "cross_validate",
    "fit_calibration",
    "fit_memory",
    "fit_performance",
    "split_rows",
]
