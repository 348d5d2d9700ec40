"""Services: every write of the planner goes through here (views stay thin, selectors read).

Engine input errors surface as calculator.InputError (with .field); other rule violations as
django.core.exceptions.ValidationError (a dict of field -> messages). The API maps both to 400.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify

from calculator import ENGINE_VERSION, Estimate, InputError, estimate_with_advice, resolve_deployment
from calculator.catalog import UnknownNameError, resolve_hardware, resolve_model
from calculator.cost import CostAssumptions
from calculator.deployment import InputErrors
from calculator.hf_config import ConfigImportError, model_from_hf_config
from calculator.planning.breakeven import BreakevenResult, compute_breakeven, resolve_breakeven_request
from calculator.planning.capacity import CapacityPlan, plan_capacity, resolve_capacity_request
from calculator.planning.sizing import DEFAULT_MAX_UTILIZATION, SizingEstimate, size_deployment
from calculator.planning.slo import SLO, Traffic, resolve_slo, resolve_traffic
from planner import access, calibrations, specs
from planner.models import Hardware, Invitation, LLMModel, Membership, Plan, PlanVersion, Role, Team

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
OPTIONAL_INPUTS = (
    "calibration",
    "replicas",
    "framework_version",
    "slo",
    "peak_to_mean",
    "peak_requests_per_s",
    "max_utilization",
)
SIZING_INPUTS = ("slo", "peak_to_mean", "peak_requests_per_s", "max_utilization")
# A synchronous capacity plan answers within the request: one model over the whole catalog is ~64k
# configurations (~0.4 s); a few models at most.
CAPACITY_MAX_CONFIGURATIONS = 300_000
ASSUMPTION_FIELDS = tuple(f.name for f in dataclasses.fields(CostAssumptions))


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
    for name in ("replicas", "framework_version"):
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
    database now, with the prices an estimate gets."""
    db = specs.catalog_from_db(team)
    return compute_breakeven(resolve_breakeven_request(raw, db.catalog), catalog=db.catalog)


# --- Plans ------------------------------------------------------------------------------------------------


def _version_add(plan: Plan, run: EstimateRun, user) -> PlanVersion:
    """Append a version; the plan row lock serialises concurrent writers so numbers stay dense (and a plan
    deleted meanwhile, whose delete takes the same lock, answers 404 instead of a foreign-key violation)."""
    if Plan.objects.select_for_update().filter(pk=plan.pk).first() is None:
        raise Plan.DoesNotExist(f"plan {plan.pk} was deleted")
    number = (plan.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = PlanVersion.objects.create(
        plan=plan,
        number=number,
        inputs=run.inputs,
        result=run.result,
        catalog_snapshot=run.catalog_snapshot,
        engine_version=ENGINE_VERSION,
        created_by=user,
    )
    plan.current_version = version
    plan.save(update_fields=["current_version", "updated_at"])
    return version


def plan_create(
    *, user, team: Team, name: str, inputs: dict[str, Any], description: str = "", visibility: str = "team"
) -> Plan:
    """Estimate first (bad input writes nothing), then the plan and its version 1 in one transaction.
    Refused (PermissionDenied) unless the user may create plans in the team (planner.access)."""
    access.require(user, "create", team, kind="plan")
    run = estimate_run(inputs, team=team)
    with transaction.atomic():
        plan = Plan.objects.create(
            name=name, description=description, team=team, owner=user, visibility=visibility
        )
        _version_add(plan, run, user)
    return plan


def plan_update(plan: Plan, *, user, inputs: dict[str, Any] | None = None, **fields: Any) -> Plan:
    """Change name/description/visibility in place; changed inputs add a new version (old ones stay).

    Invariants kept here: only the fields given are written (under the plan's row lock, so concurrent edits
    of different fields both land and a stale copy never moves `current_version` back); only the plan's owner
    changes its visibility (a private plan is visible to its owner alone, so anyone else making it private
    would hide it from everyone but the owner)."""
    access.require(user, "change", plan)
    if "visibility" in fields and fields["visibility"] != plan.visibility and plan.owner_id != user.pk:
        raise PermissionDenied("Only the plan's owner may change its visibility.")
    run = None
    if inputs is not None:
        current = plan.current_version.inputs if plan.current_version else None
        if canonical_inputs(inputs) != current:
            run = estimate_run(inputs, team=plan.team_id)
            if current is not None and run.inputs == current:
                run = None  # the same deployment under another alias
    with transaction.atomic():
        locked = Plan.objects.select_for_update().get(pk=plan.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
        if run is not None:
            _version_add(locked, run, user)
    return locked


def plan_delete(plan: Plan, *, user) -> None:
    """Delete the plan and its versions under the plan's row lock, so a version being added (recompute, an
    edit) either lands first and is deleted with it, or finds the plan gone."""
    access.require(user, "delete", plan)
    with transaction.atomic():
        locked = Plan.objects.select_for_update().filter(pk=plan.pk).first()
        if locked is not None:
            locked.delete()


def plan_recompute(plan: Plan, *, user, calibration: Any = None) -> PlanVersion:
    """A new version from the current inputs and today's catalog (prices included), on the version's
    calibration or, given `calibration` (an id of the team's or "shipped"), on that one."""
    access.require(user, "recompute", plan)
    if plan.current_version is None:
        raise ValidationError({"plan": "has no version to recompute."})
    inputs = dict(plan.current_version.inputs)
    if calibration is not None:
        inputs["calibration"] = calibration
    run = estimate_run(inputs, team=plan.team_id)
    with transaction.atomic():
        return _version_add(plan, run, user)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _side_by_side(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    flat_a, flat_b = _flatten(a), _flatten(b)
    keys = list(flat_a) + [k for k in flat_b if k not in flat_a]
    return [
        {
            "field": key,
            "a": flat_a.get(key),
            "b": flat_b.get(key),
            "changed": flat_a.get(key) != flat_b.get(key),
        }
        for key in keys
    ]


def plan_versions_diff(a: PlanVersion, b: PlanVersion) -> dict[str, Any]:
    """Inputs, results and catalog snapshots of two versions, leaf by leaf (dotted paths)."""
    return {
        "a": a.number,
        "b": b.number,
        "inputs": _side_by_side(a.inputs, b.inputs),
        "results": _side_by_side(a.result, b.result),
        "catalog": _side_by_side(a.catalog_snapshot, b.catalog_snapshot),
    }


# --- Teams ------------------------------------------------------------------------------------------------


def team_create(*, user, name: str, slug: str | None = None) -> Team:
    """A new team with its creator as admin. A slug given and taken (two creations at once included) is a
    400; without one it is derived from the name ("GPU Team" -> "gpu-team", then "gpu-team-2", ...)."""
    candidates = [slug] if slug else _derived_slugs(name)
    for candidate in candidates:
        try:
            with transaction.atomic():
                team = Team.objects.create(name=name, slug=candidate)
                Membership.objects.create(team=team, user=user, role=Role.ADMIN)
            return team
        except IntegrityError:
            continue
    raise ValidationError({"slug": "team with this slug already exists."})


def _derived_slugs(name: str, tries: int = 50):
    """Slugs for a team named `name`: its slugified name, then with -2, -3, ... (the first free ones)."""
    base = slugify(name)[:100] or "team"
    taken = set(Team.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    count = 0
    for n in range(1, 10_000):
        candidate = base if n == 1 else f"{base}-{n}"
        if candidate not in taken:
            yield candidate
            count += 1
            if count >= tries:
                return


def _admins_left(team_id: int, without: Membership) -> bool:
    return Membership.objects.filter(team_id=team_id, role=Role.ADMIN).exclude(pk=without.pk).exists()


def _locked_membership(membership: Membership) -> Membership:
    """The membership as it is now, with its team's row locked: every change of a team's admins takes the
    same lock, so two admins demoting each other (or both leaving) at once are serialised and the second
    sees the first's change. Invariant: a team always has an admin."""
    Team.objects.select_for_update().filter(pk=membership.team_id).first()
    return Membership.objects.select_for_update().get(pk=membership.pk)


def invitation_send(*, team: Team, username: str, role: str, invited_by) -> None:
    """Invite the active user `username` to `team` as `role` (a team admin's "add member").

    Says nothing about the username: an unknown or inactive one, a member already and one invited already
    (whose invitation takes the new role) all return the same, so the caller cannot learn which usernames
    exist. The invitee sees the invitation and accepts or declines it (`invitation_accept`)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None or Membership.objects.filter(team=team, user=user).exists():
        return
    values = {"role": role, "invited_by": invited_by}
    try:
        with transaction.atomic():
            Invitation.objects.update_or_create(team=team, user=user, defaults=values)
    except IntegrityError:  # a concurrent invitation of the same user was created first: take its row
        Invitation.objects.filter(team=team, user=user).update(**values)


def invitation_accept(invitation: Invitation) -> Membership:
    """The invitee joins the team with the invited role; the invitation is used up (once: the row is locked,
    so a double accept finds it gone and answers 404)."""
    with transaction.atomic():
        current = Invitation.objects.select_for_update().get(pk=invitation.pk)
        membership, _ = Membership.objects.get_or_create(
            team_id=current.team_id, user_id=current.user_id, defaults={"role": current.role}
        )
        current.delete()
    return membership


def invitation_decline(invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk).delete()


def membership_set_role(membership: Membership, *, role: str) -> Membership:
    with transaction.atomic():
        current = _locked_membership(membership)
        if current.role == Role.ADMIN and role != Role.ADMIN and not _admins_left(current.team_id, current):
            raise ValidationError({"role": "a team needs at least one admin."})
        current.role = role
        current.save(update_fields=["role"])
    membership.role = role
    return current


def membership_remove(membership: Membership) -> None:
    with transaction.atomic():
        current = _locked_membership(membership)
        if current.role == Role.ADMIN and not _admins_left(current.team_id, current):
            raise ValidationError({"user": "a team needs at least one admin."})
        current.delete()


# --- Catalog ----------------------------------------------------------------------------------------------


def catalog_log(user, obj, action: int, message: str = "") -> None:
    """Record an API change in the admin's history (django.contrib.admin LogEntry), as admin edits are."""
    if user is None or not user.is_authenticated:
        return
    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[obj],
        action_flag=action,
        change_message=message or {ADDITION: "Added via API.", CHANGE: "Changed via API."}.get(action, ""),
        single_object=True,
    )


def catalog_log_deletion(user, obj) -> None:
    if user is None or not user.is_authenticated:
        return
    LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action_flag=DELETION,
        change_message="Deleted via API.",
    )


def _free_key(model_class, key: str) -> str:
    base = f"{key}-copy"
    candidate, n = base, 1
    while model_class.objects.filter(key=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def catalog_row_duplicate(row: Hardware | LLMModel) -> Hardware | LLMModel:
    """A copy under a free key ("<key>-copy", "<key>-copy-2", ...) without aliases (they must stay unique)."""
    copy = type(row).objects.get(pk=row.pk)
    copy.pk = None
    copy.id = None
    copy.key = _free_key(type(row), row.key)
    copy.name = f"{row.name} (copy)"
    copy.aliases = []
    copy.save()
    return copy


def model_import_config(
    *, config: Any, key: str = "", name: str = "", source: str = "", user=None
) -> tuple[LLMModel, list[str]]:
    """Create an LLMModel from a Hugging Face config.json (a dict or JSON text, never a path)."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as error:
            raise ValidationError({"config": f"not valid JSON: {error}"}) from None
    if not isinstance(config, dict):
        raise ValidationError({"config": "must be a JSON object (the contents of config.json)."})
    try:
        spec, warnings = model_from_hf_config(config, key=key or None, name=name or None)
    except ConfigImportError as error:
        raise ValidationError({"config": str(error)}) from None
    values = specs.model_row_values(spec)
    values["source"] = source or f"config.json imported by {getattr(user, 'username', '') or 'unknown'}"
    row = LLMModel(**values)
    row.full_clean()
    row.save()
    catalog_log(user, row, ADDITION, "Imported from config.json.")
    return row, warnings
