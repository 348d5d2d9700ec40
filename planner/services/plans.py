"""Plans: create, edit, recompute and delete, each change of inputs a new version (versions never change);
the diff of two versions. Every version stores what planner.services.estimates.estimate_run returned."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max

from calculator import ENGINE_VERSION
from planner import access
from planner.models import Plan, PlanVersion, Team
from planner.services.estimates import EstimateRun, canonical_inputs, estimate_run


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
