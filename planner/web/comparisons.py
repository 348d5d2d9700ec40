"""Read-side helpers of the comparison pages: the engine's 400 detail mapped onto the form's fields, the
summary and the ranked rows formatted for people, and the points of the cost-vs-latency chart. Jobs are
submitted and cancelled through planner.services.comparisons, the same services as the API."""

from __future__ import annotations

from typing import Any

from calculator.engine import BLOCKERS
from calculator.planning import CONSTRAINT_REASONS
from planner.models import ComparisonJob, ComparisonResultRow
from planner.web.calculator import _usd
from planner.web.forms import ALL

# Engine detail keys that are not form fields, mapped to the field that shows their error.
FIELD_OF_DETAIL = {"deployment_modes": "deployment_mode", "num_gpus": "tensor_parallel"}
BEST_LABELS = {
    "cost": "Lowest cost per 1M output tokens",
    "latency": "Lowest time per output token",
    "throughput": "Highest output throughput",
    "balanced": "Best balance of cost, TPOT and throughput",
}
NAME_FIELDS = ("models", "hardware", "precisions", "frameworks", "deployment_modes")
REASON_LABELS = {
    **dict(BLOCKERS.values()),
    "gpu_count": "GPU count is not a multiple of tensor parallel",
    "ttft": "over the max TTFT",
    "tpot": "over the max TPOT",
    "monthly_cost": "over the max monthly cost",
    "throughput": "under the min throughput",
}
assert all(reason in REASON_LABELS for reason in CONSTRAINT_REASONS)

# Columns of the ranked table: (key, label, numeric); the keys are the API's ?ordering= fields where sortable.
COLUMNS = (
    ("rank", "Rank", True),
    ("model", "Model", False),
    ("hardware", "Hardware", False),
    ("precision", "Precision", False),
    ("framework", "Framework", False),
    ("num_gpus", "GPUs", True),
    ("batch_size", "Batch", True),
    ("ttft_ms", "TTFT ms", True),
    ("tpot_ms", "TPOT ms", True),
    ("output_tokens_per_s", "Tok/s", True),
    ("cost_per_million_tokens_usd", "$ / 1M out tok", True),
    ("prefill_cost_per_million_input_tokens_usd", "$ / 1M in, prefill", True),
    ("decode_cost_per_million_output_tokens_usd", "$ / 1M out, decode", True),
    ("monthly_cost_usd", "$ / month", True),
    ("memory_utilization", "Memory", True),
)
ORDERING_FIELDS = (
    "rank",
    "order_value",
    "key",
    "model",
    "hardware",
    "precision",
    "ttft_ms",
    "tpot_ms",
    "output_tokens_per_s",
    "cost_per_million_tokens_usd",
    "prefill_cost_per_million_input_tokens_usd",
    "decode_cost_per_million_output_tokens_usd",
    "blended_cost_per_million_tokens_usd",
    "monthly_cost_usd",
    "memory_utilization",
)  # fmt: skip  (the API's ComparisonResultsView.ordering_fields)


def field_errors(detail: dict[str, Any], request: dict[str, Any]) -> dict[str | None, list[str]]:
    """{form field (None = the whole form): messages} for a ComparisonError's detail (the API's 400)."""
    errors: dict[str | None, list[str]] = {}
    if "size" in detail:
        size, limit = detail["size"], detail.get("max_configurations")
        message = (
            f"This grid has {size:,} configurations, over the limit of {limit:,}: "
            "pick fewer entries here or in the other lists."
        )
        field = "hardware" if ALL in request["grid"].get("hardware", []) else None
        errors.setdefault(field, []).append(message)
    for key, value in detail.items():
        if key in ("size", "max_configurations"):
            continue
        if key == "unknown_fields":
            errors.setdefault(None, []).append(f"Unknown fields: {', '.join(map(str, value))}")
            continue
        field = FIELD_OF_DETAIL.get(key, key)
        if key in NAME_FIELDS and isinstance(value, list):
            noun = "name" if len(value) == 1 else "names"
            message = f"Unknown {noun}: {', '.join(map(str, value))}"
        else:
            message = f"{value[0] if isinstance(value, list) and value else value}"
            message = message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
        errors.setdefault(field, []).append(message)
    return errors


def progress(job: ComparisonJob) -> float:
    """0..1, as the API's `progress`."""
    if not job.configurations_total:
        return 1.0
    return round(job.configurations_evaluated / job.configurations_total, 4)


def _parallel(row: dict[str, Any] | ComparisonResultRow) -> str:
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    tp, pp, gpus = get("tensor_parallel"), get("pipeline_parallel"), get("num_gpus")
    return f"{gpus}\u00d7 (TP {tp}{f', PP {pp}' if pp and pp > 1 else ''})"


def _batch(requested: int, chosen: int) -> str:
    return f"auto → {chosen}" if not requested else str(chosen)


def describe_best(summary: dict[str, Any], hardware_names: dict[str, str]) -> list[dict[str, Any]]:
    """The best configuration per objective as cards."""
    cards = []
    for objective, label in BEST_LABELS.items():
        row = (summary.get("best") or {}).get(objective)
        if not row:
            continue
        cards.append(
            {
                "objective": objective,
                "label": label,
                "title": f"{row['model']} · {row['precision']} · {row['framework']}",
                "where": f"{_parallel(row)} {hardware_names.get(row['hardware'], row['hardware'])}, "
                f"batch {_batch(row['requested_batch_size'], row['batch_size'])}",
                "figures": f"{_usd(row['cost_per_million_tokens_usd'])} / 1M tok · TPOT "
                f"{row['tpot_ms']:.3g} ms · {row['output_tokens_per_s']:,.0f} tok/s",
            }
        )
    return cards


def reasons(summary: dict[str, Any]) -> list[dict[str, Any]]:
    by_reason = summary.get("infeasible_by_reason") or {}
    return [
        {"reason": reason, "label": REASON_LABELS.get(reason, reason.replace("_", " ")), "count": count}
        for reason, count in sorted(by_reason.items(), key=lambda item: -item[1])
    ]


def _value(value: Any) -> str:
    """The raw value a cell sorts by (data-value); empty sorts last."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def table_rows(rows: list[ComparisonResultRow], hardware_names: dict[str, str]) -> list[dict[str, Any]]:
    """Each stored row with its formatted cells, the raw values the client-side sort uses, and its flags
    (Pareto, best per objective / hardware / model, infeasible) as badges under the model."""
    out = []
    for row in rows:
        cost, monthly = row.cost_per_million_tokens_usd, row.monthly_cost_usd
        cells = {
            "rank": (row.rank, str(row.rank) if row.rank else "\u2013"),
            "model": (row.model, row.model),
            "hardware": (row.hardware, hardware_names.get(row.hardware, row.hardware)),
            "precision": (row.precision, row.precision),
            "framework": (row.framework, row.framework),
            "num_gpus": (row.num_gpus, _parallel(row)),
            "batch_size": (row.batch_size, _batch(row.requested_batch_size, row.batch_size)),
            "ttft_ms": (row.ttft_ms, f"{row.ttft_ms:,.1f}"),
            "tpot_ms": (row.tpot_ms, f"{row.tpot_ms:,.2f}"),
            "output_tokens_per_s": (row.output_tokens_per_s, f"{row.output_tokens_per_s:,.0f}"),
            "cost_per_million_tokens_usd": (cost, _usd(cost)),
            **{
                name: (getattr(row, name), _usd(getattr(row, name)))
                for name in (
                    "prefill_cost_per_million_input_tokens_usd",
                    "decode_cost_per_million_output_tokens_usd",
                )
            },
            "monthly_cost_usd": (monthly, _usd(monthly)),
            "memory_utilization": (row.memory_utilization, f"{row.memory_utilization * 100:.0f}%"),
        }
        badges = [{"kind": "blocked", "text": "infeasible"}] if not row.feasible else []
        if row.is_pareto:
            badges.append({"kind": "pareto", "text": "Pareto"})
        if row.best_for:
            badges.append({"kind": "flag", "text": "best " + " & ".join(row.best_for)})
        if row.is_best_for_hardware:
            badges.append({"kind": "flag", "text": "best on its hardware"})
        if row.is_best_for_model:
            badges.append({"kind": "flag", "text": "best for its model"})
        out.append(
            {
                "key": row.key,
                "feasible": row.feasible,
                "pareto": row.is_pareto,
                "cells": [
                    {
                        "key": key,
                        "value": _value(cells[key][0]),
                        "text": cells[key][1],
                        "numeric": numeric,
                        "badges": badges if key == "model" else [],
                    }
                    for key, _label, numeric in COLUMNS
                ],
            }
        )
    return out


def chart_points(rows: list[ComparisonResultRow]) -> list[dict[str, Any]]:
    """Points of the cost-vs-latency scatter: every priced row (x = TPOT ms, y = $ per 1M output tokens)."""
    return [
        {
            "x": round(row.tpot_ms, 4),
            "y": round(row.cost_per_million_tokens_usd, 6),
            "key": row.key,
            "label": f"{row.model} {row.precision} {row.framework} on {row.num_gpus}x {row.hardware}",
            "pareto": row.is_pareto,
            "feasible": row.feasible,
        }
        for row in rows
        if row.cost_per_million_tokens_usd is not None and row.tpot_ms > 0
    ]


def ordering_of(value: str) -> str | None:
    """A whitelisted ?ordering= value ("-" for descending), else None."""
    return value if value.lstrip("-") in ORDERING_FIELDS else None


def headers(ordering: str | None) -> list[dict[str, Any]]:
    """Column headers with the ?ordering= link each gives (the same column again reverses it)."""
    out = []
    for key, label, numeric in COLUMNS:
        sortable = key in ORDERING_FIELDS
        current = ordering.lstrip("-") == key if ordering else False
        descending = bool(ordering and ordering.startswith("-"))
        out.append(
            {
                "key": key,
                "label": label,
                "numeric": numeric,
                "sortable": sortable,
                "sort": ("descending" if descending else "ascending") if current else "",
                "next": f"-{key}" if current and not descending else key,
            }
        )
    return out
