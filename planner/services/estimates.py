"""Estimates: the engine run on the catalog as it is in the database now (team prices and calibration
applied): one deployment (estimate_run, with its sizing when a traffic is given), a capacity plan and a
break-even. Nothing here writes; plans store what estimate_run returns (planner.services.plans)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.utils import timezone

from calculator import ENGINE_VERSION, Estimate, InputError, estimate_with_advice, resolve_deployment
from calculator.catalog import UnknownNameError, resolve_hardware, resolve_model
from calculator.cost import CostAssumptions
from calculator.deployment import InputErrors
from calculator.estimate import Finding
from calculator.planning.breakeven import BreakevenResult, compute_breakeven, resolve_breakeven_request
from calculator.planning.capacity import CapacityPlan, plan_capacity, resolve_capacity_request
from calculator.planning.sizing import DEFAULT_MAX_UTILIZATION, SizingEstimate, size_deployment
from calculator.planning.slo import SLO, Traffic, resolve_slo, resolve_traffic
from planner import specs
from planner.models import Team
from planner.services import calibrations

# Inputs the engine's resolve_deployment takes besides model and hardware, with the API's defaults.
ENGINE_INPUT_DEFAULTS: dict[str, Any] = {
    "precision": "fp16",
    "kv_cache_precision": None,
    "framework": "vllm",
    "num_gpus": None,
    "tensor_parallel": None,
    "pipeline_parallel": 1,
    "prompt_tokens": 512,
    "output_tokens": 256,
    "batch_size": 1,
    "deployment_mode": "cloud",
    "requests_per_hour": 0.0,
    "request_rate": None,
    "concurrency": None,
    "burst_requests": None,
    "output_length_cv": 0.0,
}
# Inputs kept in the canonical inputs only where given (so plans saved before they existed keep their
# canonical form): the replica count, the framework release, and what sizing needs (SLO, peak traffic,
# utilisation cap).
OPTIONAL_ENGINE_INPUTS = ("replicas", "framework_version", "attention_data_parallel")
"""Engine inputs passed on only where given (resolve_deployment's defaults otherwise)."""
OPTIONAL_INPUTS = (
    "calibration",
    *OPTIONAL_ENGINE_INPUTS,
    "slo",
    "peak_to_mean",
    "peak_requests_per_s",
    "max_utilization",
)
# A synchronous capacity plan answers within the request: one model over the whole catalog is ~64k
# configurations (~0.4 s); a few models at most.
CAPACITY_MAX_CONFIGURATIONS = 300_000


@dataclass(frozen=True, kw_only=True)
class EstimateRun:
    """One engine run: the canonical inputs, the engine's result and the catalog values it used."""

    inputs: dict[str, Any]
    estimate: Estimate
    catalog_snapshot: dict[str, Any]
    sizing: SizingEstimate | None = None
    """Replicas, GPUs and cost for the traffic within the SLO; None when no traffic was given."""

    @property
    def result(self) -> dict[str, Any]:
        result = self.estimate.to_dict()
        if self.sizing is not None:
            result["sizing"] = dataclasses.asdict(self.sizing)
        return result


def canonical_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Every engine input present, defaults filled, assumptions only where given (JSON-safe)."""
    values = {"model": inputs["model"], "hardware": inputs["hardware"]}
    for name, default in ENGINE_INPUT_DEFAULTS.items():
        value = inputs.get(name)
        values[name] = default if value is None else value
    for name in OPTIONAL_INPUTS:
        value = inputs.get(name)
        if name == "slo" and value is not None:
            value = {k: v for k, v in value.items() if v not in (None, "")} or None
        if value is not None:
            values[name] = value
    assumptions = {k: v for k, v in (inputs.get("assumptions") or {}).items() if v is not None}
    if assumptions:
        values["assumptions"] = assumptions
    return values


def _resolve_all(inputs: dict[str, Any], catalog) -> tuple[Any, Any, Any, tuple[Any, Any]]:
    """Model, hardware, deployment and sizing inputs, with every independent error at once
    (InputErrors): an invalid field is reported and replaced by a valid stand-in (the catalog's first
    entry, the field's default) so the fields after it are still checked."""
    errors: dict[str, str] = {}

    def named(field: str, resolve, table: dict) -> Any:
        try:
            return resolve(str(inputs[field]), catalog)
        except UnknownNameError as error:
            errors[field] = str(error)
            return next(iter(table.values()))

    model = named("model", resolve_model, catalog.models)
    hardware = named("hardware", resolve_hardware, catalog.hardware)
    kwargs = {name: inputs[name] for name in ENGINE_INPUT_DEFAULTS}
    for name in OPTIONAL_ENGINE_INPUTS:
        if name in inputs:
            kwargs[name] = inputs[name]
    deployment = None
    for _ in range(len(kwargs) + 1):
        try:
            deployment = resolve_deployment(model, hardware, catalog=catalog, **kwargs)
            break
        except InputError as error:
            if error.field in errors or error.field not in kwargs:
                errors.setdefault(error.field, error.message)
                break
            errors[error.field] = error.message
            if error.field in ENGINE_INPUT_DEFAULTS:
                kwargs[error.field] = ENGINE_INPUT_DEFAULTS[error.field]
            else:
                kwargs.pop(error.field)
    try:
        sizing = sizing_inputs(inputs)
    except InputError as error:
        errors.update(error.errors)
        sizing = (None, None)
    if errors:
        raise InputErrors(errors) if len(errors) > 1 else InputError(*next(iter(errors.items())))
    return model, hardware, deployment, sizing


def estimate_run(inputs: dict[str, Any], *, team: Team | int | None = None) -> EstimateRun:
    """Run the engine on inputs against the catalog as it is in the database now (team prices applied).

    Model and hardware names resolve like the CLI (keys, aliases, forgiving separators); the canonical
    inputs record the resolved keys, so a recompute uses the same rows.
    """
    inputs = canonical_inputs(inputs)
    db = specs.catalog_from_db(team)
    model, hardware, deployment, (slo, traffic) = _resolve_all(inputs, db.catalog)
    inputs["model"], inputs["hardware"] = model.key, hardware.key
    # The calibration named, else the team's default (recorded in the inputs, so a recompute keeps it),
    # else the shipped one.
    calibration, calibration_row = calibrations.calibration_for(team, inputs.get("calibration"))
    if calibration_row is not None:
        inputs["calibration"] = calibration_row.pk
    assumptions = CostAssumptions(**inputs.get("assumptions", {}))
    result = estimate_with_advice(
        deployment, calibration=calibration, assumptions=assumptions, catalog=db.catalog
    )
    result = flag_stale_price(result, db.prices[hardware.key])
    sizing = None
    if traffic is not None:
        sizing = size_deployment(
            deployment,
            slo,
            traffic,
            calibration=calibration,
            assumptions=assumptions,
            max_utilization=inputs.get("max_utilization", DEFAULT_MAX_UTILIZATION),
        )
    snapshot = {
        "model": {"id": db.model_ids[model.key], **specs.spec_as_dict(model)},
        "hardware": {"id": db.hardware_ids[hardware.key], **specs.spec_as_dict(hardware)},
        "price": db.prices[hardware.key].as_dict(),
        "assumptions": dataclasses.asdict(assumptions),
        "team_id": team.pk if isinstance(team, Team) else team,
        "engine_version": ENGINE_VERSION,
        "calibration": {
            "id": calibration_row.pk if calibration_row else None,
            "name": calibration_row.name if calibration_row else "shipped",
            "source": calibration.meta.get("source", "priors"),
            # The team's own cells (what differs from the shipped calibration), as they were fitted.
            "entries": _team_cells(calibration_row),
        },
    }
    return EstimateRun(inputs=inputs, estimate=result, catalog_snapshot=snapshot, sizing=sizing)


def flag_stale_price(estimate: Estimate, price: specs.Price, today: date | None = None) -> Estimate:
    """The estimate with a stale_price warning when it is billed at a price point read more than
    PRICE_STALE_AFTER_DAYS ago (the snapshot keeps the price and its date either way); a hardware row's own
    column has no date and is not judged."""
    if not price.as_of:
        return estimate
    age_days = ((today or timezone.localdate()) - date.fromisoformat(price.as_of)).days
    if age_days <= settings.PRICE_STALE_AFTER_DAYS:
        return estimate
    finding = Finding(
        code="stale_price",
        message=f"the {price.provider} price (${price.usd_per_gpu_hour:g} per GPU-hour) was read {age_days} "
        f"days ago ({price.as_of}): check it is current",
    )
    return dataclasses.replace(estimate, warnings=[*estimate.warnings, finding])


def _team_cells(row) -> dict[str, Any] | None:
    if row is None:
        return None
    entries = (row.calibration or {}).get("entries", {})
    return {key: entries[key] for key in (row.report or {}).get("moved", {}) if key in entries}


def sizing_inputs(inputs: dict[str, Any]) -> tuple[SLO, Traffic | None]:
    """(SLO, Traffic or None) from canonical inputs. The traffic is request_rate (requests/s) when given,
    else requests_per_hour; InputError names the API's field (request_rate, not requests_per_s)."""
    slo = resolve_slo(inputs.get("slo"))
    rate = inputs.get("request_rate")
    try:
        traffic = resolve_traffic(
            requests_per_s=rate,
            requests_per_hour=inputs.get("requests_per_hour") if rate is None else None,
            peak_to_mean=inputs.get("peak_to_mean"),
            peak_requests_per_s=inputs.get("peak_requests_per_s"),
        )
    except InputError as error:
        if error.field == "requests_per_s":
            message = error.message.replace("requests_per_s or", "request_rate or")
            raise InputError("request_rate", message) from None
        raise
    utilization = inputs.get("max_utilization")
    if utilization is not None and not 0 < utilization <= 1:
        raise InputError("max_utilization", f"must be in (0, 1], got {utilization!r}")
    return slo, traffic


def capacity_plan(raw: dict[str, Any], *, team: Team | int | None = None) -> CapacityPlan:
    """Rank every configuration of the request (calculator.planning.capacity) on the catalog as it is in the
    database now, with the prices an estimate gets (team overrides, public price points, the row's own)."""
    raw = dict(raw)
    calibration, _ = calibrations.calibration_for(team, raw.pop("calibration", None))
    db = specs.catalog_from_db(team)
    request = resolve_capacity_request(raw, db.catalog)
    if request.size > CAPACITY_MAX_CONFIGURATIONS:
        raise InputError(
            "models",
            f"{request.size:,} configurations; at most {CAPACITY_MAX_CONFIGURATIONS:,} are planned at once "
            "(name fewer models, hardware, precisions or frameworks)",
        )
    return plan_capacity(request, catalog=db.catalog, calibration=calibration)


def breakeven(raw: dict[str, Any], *, team: Team | int | None = None) -> BreakevenResult:
    """A hosted API against renting or buying (calculator.planning.breakeven) on the catalog as it is in the
    database now, with the prices an estimate gets, every price point of each rent kind (the team's where it
    has one, specs.rental_points) and the hosted-API prices of the HostedApiPrice rows. Whole-server prices
    are the engine's file (calculator/data/server_prices.csv); they have no table."""
    db = specs.catalog_from_db(team)
    prices = specs.hosted_prices()
    request = resolve_breakeven_request(raw, db.catalog, prices=prices)
    return compute_breakeven(
        request, catalog=db.catalog, prices=prices, rental_points=specs.rental_points(team)
    )
