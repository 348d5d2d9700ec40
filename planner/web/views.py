"""Web pages: calculator, plans (versions, diff, recompute), comparisons and sign-in. Thin like the API
views: reads come from selectors, writes go through services; the engine runs through
planner.services.estimates.estimate_run, comparisons through planner.services.comparisons."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from calculator import InputError
from calculator.catalog import UnknownNameError, resolve_hardware, resolve_model
from calculator.planning import ComparisonError
from planner import access, selectors
from planner.models import ComparisonJob, Membership, Plan, TeamCalibration
from planner.services import comparisons, estimates, plans, teams
from planner.web import calculator as calc
from planner.web import comparisons as cmp
from planner.web.forms import (
    CALCULATOR_FIELDS,
    SLO_FIELDS,
    CalculatorForm,
    CapacityForm,
    ComparisonForm,
    PlanSaveForm,
    TeamForm,
    plain_number,
    query_from_inputs,
)

# Engine input names that are not form fields, mapped to the field that shows their error.
FIELD_OF_INPUT = {"context_tokens": "prompt_tokens", "replicas": "num_gpus"}
# The traffic and SLO fields, shown in their own group on the calculator.
SIZING_FIELDS = ("request_rate", "peak_to_mean", *SLO_FIELDS)


def _editor_teams(user):
    """Teams the user may create plans and submit comparisons in."""
    return access.teams_where(user, "plan", "create").order_by("name")


def _can_edit(user, plan: Plan) -> bool:
    return access.allowed(user, "change", plan)


def _bound_calculator(query: QueryDict, db_catalog, user=None) -> CalculatorForm:
    """The calculator form bound to a query. A model or hardware name in a link that is not a key is
    resolved as the API resolves it (aliases, forgiving separators); one that matches nothing is an error
    on its field naming the closest catalog entries, never another entry shown silently."""
    models, hardware = calc.catalog_choices(db_catalog)
    query = query.copy()
    unknown: dict[str, str] = {}
    for field, resolve, table in (
        ("model", resolve_model, db_catalog.models),
        ("hardware", resolve_hardware, db_catalog.hardware),
    ):
        value = query.get(field)
        if value and value not in table:
            try:
                query[field] = resolve(value, db_catalog).key
            except UnknownNameError as error:
                unknown[field] = str(error)
    form = CalculatorForm.from_query(query, model_choices=models, hardware_choices=hardware)
    if user is not None and user.is_authenticated:
        jobs = access.restrict(TeamCalibration.objects.select_related("team"), user, "view")
        jobs = jobs.filter(status=TeamCalibration.Status.SUCCEEDED).only(
            "pk", "name", "team_id", "team__name"
        )
        form.set_calibrations(jobs[:100])
    if unknown:
        form.is_valid()
        for field, message in unknown.items():
            form.errors[field] = form.error_class([message])
    return form


def _run(form: CalculatorForm) -> estimates.EstimateRun | None:
    """Estimate a valid form; an engine input error is attached to the field that caused it. A team
    calibration runs with its team (the choices hold the user's teams' only)."""
    if not form.is_valid():
        return None
    team = form.calibration_teams.get(form.cleaned_data.get("calibration") or "")
    try:
        return estimates.estimate_run(form.engine_inputs(), team=team)
    except InputError as error:
        field = FIELD_OF_INPUT.get(error.field, error.field)
        if field.startswith("slo."):
            field = "slo_" + field.removeprefix("slo.")
        form.add_error(field if field in form.fields else None, error.message)
        return None


def _apply_link(query: dict[str, Any], changes: dict[str, Any]) -> str:
    applied = {**query, **{k: v for k, v in changes.items() if k in CALCULATOR_FIELDS}}
    if "num_gpus" in changes and "tensor_parallel" not in changes:
        applied["tensor_parallel"] = changes["num_gpus"]
    return "?" + urlencode(applied)


@require_GET
def calculator(request: HttpRequest) -> HttpResponse:
    """The calculator; inputs live in the query string, so the URL shares the result."""
    db_catalog = calc.load_catalog()
    if not db_catalog.models or not db_catalog.hardware:
        return render(request, "web/empty_catalog.html", status=503)
    form = _bound_calculator(request.GET, db_catalog, request.user)
    run = _run(form)
    values = {name: form.data.get(name) for name in CALCULATOR_FIELDS}
    reasons = calc.disabled_reasons(values, db_catalog)
    context: dict[str, Any] = {"form": form, "reasons": reasons, "query": urlencode(values)}
    field_notes: dict[str, list[str]] = {}
    if run is not None:
        result = run.result
        for blocker in result["blockers"]:
            if blocker["code"] == "precision_unsupported":
                field_notes.setdefault("precision", []).append(blocker["message"])
        context.update(
            result=result,
            view=calc.present(result),
            sweep=calc.batch_sweep(run, db_catalog),
            sizing=calc.present_sizing(result.get("sizing")),
            recommendations=[
                {**rec, "link": _apply_link(values, rec["changes"])} for rec in result["recommendations"]
            ],
        )
    context["fields"] = [
        _field(form, name, field_notes.get(name, []), reasons.get(name, {})) for name in CALCULATOR_FIELDS
    ]
    context["deployment_fields"] = [f for f in context["fields"] if f["bound"].name not in SIZING_FIELDS]
    context["sizing_fields"] = [f for f in context["fields"] if f["bound"].name in SIZING_FIELDS]
    context.update(_save_context(request, form, run))
    return render(request, "web/calculator.html", context)


# Capacity-plan request fields (engine names) mapped to the form field that shows their error.
CAPACITY_FIELD_OF = {"models": "model", "requests_per_s": "requests_per_hour"}


@require_GET
def capacity(request: HttpRequest) -> HttpResponse:
    """Plan capacity across the catalog for one model (synchronous, like POST /api/v1/capacity/); the query
    string holds the inputs, and each ranked row links to the calculator prefilled with it."""
    db_catalog = calc.load_catalog()
    if not db_catalog.models or not db_catalog.hardware:
        return render(request, "web/empty_catalog.html", status=503)
    models, hardware = calc.catalog_choices(db_catalog)
    submitted = "model" in request.GET
    form = CapacityForm(request.GET if submitted else None, model_choices=models, hardware_choices=hardware)
    if not submitted:
        form.initial = {"model": "llama-3.1-70b", "requests_per_hour": 36000, "prompt_tokens": 1000,
                        "output_tokens": 200, "slo_ttft_p99_ms": 1000}  # fmt: skip
    context: dict[str, Any] = {"form": form}
    if submitted and form.is_valid():
        try:
            plan = estimates.capacity_plan(form.engine_request())
        except InputError as error:
            field = CAPACITY_FIELD_OF.get(error.field, error.field)
            if field.startswith("slo."):
                field = "slo_" + field.removeprefix("slo.")
            form.add_error(field if field in form.fields else None, error.message)
        else:
            result = plan.to_dict()
            c = form.cleaned_data
            shared = {
                "prompt_tokens": c["prompt_tokens"],
                "output_tokens": c["output_tokens"],
                **{
                    name: plain_number(c[name]) if c[name] else ""
                    for name in ("requests_per_hour", "request_rate", "peak_to_mean", *SLO_FIELDS)
                },
            }
            if not shared["requests_per_hour"]:
                shared["requests_per_hour"] = 0
            budget_only = not c["requests_per_hour"] and not c["request_rate"]
            for option in result["options"]:
                # Without a traffic the plan fills the GPU budget: the link carries the rate those replicas
                # serve (rounded down, so the calculator sizes the same replica count) to show the same plan.
                served = option["replicas"] * (option["requests_per_s_per_replica"] or 0.0)
                carried = {"request_rate": plain_number(math.floor(served * 1e4) / 1e4)}
                query = {
                    **shared,
                    **(carried if budget_only and served > 0 else {}),
                    "model": option["model"],
                    "hardware": option["hardware"],
                    "precision": option["precision"],
                    "framework": option["framework"],
                    "tensor_parallel": option["tensor_parallel"],
                    "pipeline_parallel": option["pipeline_parallel"],
                    "num_gpus": option["gpus"],
                    "batch_size": max(int(option["batch"] or 1), 1),
                }
                option["link"] = reverse("web:calculator") + "?" + urlencode(query)
                hardware_spec = db_catalog.hardware.get(option["hardware"])
                option["hardware_name"] = hardware_spec.name if hardware_spec else option["hardware"]
                option["binding_label"] = calc.binding_label(option["binding_constraint"])
            if result["closest"]:
                closest = result["closest"]
                label, unit = calc.SLO_LABELS.get(closest["constraint"], (closest["constraint"], ""))
                closest["constraint_label"], closest["unit"] = label, unit
                hardware_spec = db_catalog.hardware.get(closest["hardware"])
                closest["hardware_name"] = hardware_spec.name if hardware_spec else closest["hardware"]
            context["plan"] = result
            context["budget_only"] = budget_only
            context["rejected"] = calc.rejection_counts(
                result["rejected"], c.get("max_total_gpus"), c.get("max_gpus_per_replica")
            )
            context["notes"] = calc.capacity_notes(result)
    return render(request, "web/capacity.html", context)


def _field(form: CalculatorForm, name: str, notes: list[str], reasons: dict[str, str]) -> dict[str, Any]:
    """A field for web/_field.html; choices carry the engine's reason when they are unavailable. The chosen
    option is never disabled (a disabled option is not submitted): its problem is an error instead."""
    bound = form[name]
    field: dict[str, Any] = {"bound": bound, "notes": notes, "errors": [*bound.errors, *notes]}
    choices = getattr(bound.field, "choices", None)
    if choices is not None:
        current = str(bound.value() if bound.value() is not None else "")
        field["options"] = [
            {
                "value": str(value),
                "label": label,
                "selected": str(value) == current,
                "reason": reasons.get(str(value), "") if str(value) != current else "",
            }
            for value, label in choices
        ]
    return field


def _save_context(request: HttpRequest, form: CalculatorForm, run) -> dict[str, Any]:
    if not request.user.is_authenticated or run is None:
        return {}
    context: dict[str, Any] = {
        "save_form": PlanSaveForm(teams=_editor_teams(request.user)),
        "has_editor_team": _editor_teams(request.user).exists(),
    }
    plan_id = request.GET.get("plan", "")
    if plan_id.isdigit():
        plan = selectors.plans_for(request.user).filter(pk=int(plan_id)).first()
        if plan is not None and _can_edit(request.user, plan):
            context["target_plan"] = plan
    return context


def _calculator_from_post(request: HttpRequest):
    db_catalog = calc.load_catalog()
    form = _bound_calculator(request.POST, db_catalog, request.user)
    return form, form.engine_inputs() if form.is_valid() else None


@login_required
@require_POST
def plan_save(request: HttpRequest) -> HttpResponse:
    """Save the calculator's inputs as a new plan (version 1) in one of the user's teams."""
    form, inputs = _calculator_from_post(request)
    save_form = PlanSaveForm(request.POST, teams=_editor_teams(request.user))
    back = (
        reverse("web:calculator") + "?" + urlencode({n: request.POST.get(n, "") for n in CALCULATOR_FIELDS})
    )
    if inputs is None or not save_form.is_valid():
        problems = {**form.errors, **save_form.errors}
        for field, errors in problems.items():
            messages.error(request, f"{field.replace('_', ' ')}: {' '.join(errors)}")
        return redirect(back)
    try:
        plan = plans.plan_create(user=request.user, inputs=inputs, **save_form.cleaned_data)
    except (InputError, ValidationError) as error:
        messages.error(request, f"Not saved: {error}")
        return redirect(back)
    messages.success(request, f"Saved “{plan.name}” as version 1.")
    return redirect("web:plan_detail", plan_id=plan.pk)


def _plan_or_404(request: HttpRequest, plan_id: int) -> Plan:
    return get_object_or_404(selectors.plans_for(request.user), pk=plan_id)


@login_required
@require_POST
def plan_version_add(request: HttpRequest, plan_id: int) -> HttpResponse:
    """Save the calculator's inputs as the plan's next version (editors)."""
    plan = _plan_or_404(request, plan_id)
    if not _can_edit(request.user, plan):
        messages.error(request, "Editing this plan needs the editor or admin role in its team.")
        return redirect("web:plan_detail", plan_id=plan.pk)
    _form, inputs = _calculator_from_post(request)
    if inputs is None:
        messages.error(request, "The inputs are not valid; fix them in the calculator first.")
        return redirect("web:plan_detail", plan_id=plan.pk)
    before = plan.current_version_id
    try:
        plans.plan_update(plan, user=request.user, inputs=inputs)
    except (InputError, ValidationError) as error:
        messages.error(request, f"Not saved: {error}")
        return redirect("web:plan_detail", plan_id=plan.pk)
    plan.refresh_from_db()
    if plan.current_version_id == before:
        messages.info(request, "The inputs are those of the current version: no new version.")
    else:
        messages.success(request, f"Saved version {plan.current_version.number}.")
    return redirect("web:plan_detail", plan_id=plan.pk)


@login_required
@require_GET
def plan_list(request: HttpRequest) -> HttpResponse:
    return render(request, "web/plan_list.html", _plan_list_context(request, TeamForm()))


def _plan_list_context(request: HttpRequest, team_form: TeamForm) -> dict[str, Any]:
    listed = selectors.plans_for(request.user).order_by("team__name", "-updated_at", "-id")
    rows = [
        (plan, calc.present(plan.current_version.result) if plan.current_version else None) for plan in listed
    ]
    return {"plans": rows, "teams": selectors.teams_for(request.user), "team_form": team_form}


@login_required
@require_POST
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST)
    if not form.is_valid():
        return render(request, "web/plan_list.html", _plan_list_context(request, form), status=400)
    team = teams.team_create(user=request.user, **form.cleaned_data)
    messages.success(request, f"Created team “{team.name}”; you are its admin.")
    return redirect("web:plan_list")


@login_required
@require_GET
def plan_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = _plan_or_404(request, plan_id)
    versions = list(selectors.plan_versions(plan))
    rows = []
    for version in versions:
        result = version.result
        rows.append(
            {
                "version": version,
                "status": result["memory"]["status"],
                "view": calc.present(result),
                "inputs": version.inputs,
            }
        )
    current = plan.current_version
    edit_query = urlencode({**query_from_inputs(current.inputs), "plan": plan.pk}) if current else ""
    return render(
        request,
        "web/plan_detail.html",
        {
            "plan": plan,
            "rows": rows,
            "can_edit": _can_edit(request.user, plan),
            "edit_query": edit_query,
            "default_a": versions[-2].number if len(versions) > 1 else 1,
            "default_b": versions[-1].number if versions else 1,
            "role": Membership.objects.filter(team=plan.team, user=request.user)
            .values_list("role", flat=True)
            .first(),
        },
    )


@login_required
@require_POST
def plan_recompute(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = _plan_or_404(request, plan_id)
    if not _can_edit(request.user, plan):
        messages.error(request, "Recomputing needs the editor or admin role in the plan's team.")
        return redirect("web:plan_detail", plan_id=plan.pk)
    try:
        version = plans.plan_recompute(plan, user=request.user)
    except (InputError, ValidationError) as error:
        messages.error(request, f"Not recomputed: {error}")
        return redirect("web:plan_detail", plan_id=plan.pk)
    messages.success(request, f"Recomputed with today's catalog as version {version.number}.")
    return redirect("web:plan_detail", plan_id=plan.pk)


def _readable(value: Any) -> Any:
    """Six significant digits for floats (the API's diff has them exact), JSON for lists and objects."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


@login_required
@require_GET
def plan_diff(request: HttpRequest, plan_id: int) -> HttpResponse:
    """Two versions side by side: inputs, results and the catalog rows they used."""
    plan = _plan_or_404(request, plan_id)
    versions = selectors.plan_versions(plan)
    numbers = [request.GET.get("a", ""), request.GET.get("b", "")]
    if not all(n.isdigit() for n in numbers):
        raise Http404("choose two versions")
    a = get_object_or_404(versions, number=int(numbers[0]))
    b = get_object_or_404(versions, number=int(numbers[1]))
    diff = plans.plan_versions_diff(a, b)
    show_all = request.GET.get("all") == "1"
    sections = []
    for key, title in (("inputs", "Inputs"), ("results", "Results"), ("catalog", "Catalog used")):
        rows = diff[key]
        changed = sum(1 for row in rows if row["changed"])
        shown = [
            {**row, "a": _readable(row["a"]), "b": _readable(row["b"])}
            for row in rows
            if show_all or key == "inputs" or row["changed"]
        ]
        sections.append({"key": key, "title": title, "rows": shown, "changed": changed, "total": len(rows)})
    return render(
        request,
        "web/plan_diff.html",
        {
            "plan": plan,
            "a": a,
            "b": b,
            "sections": sections,
            "show_all": show_all,
            "versions": list(versions),
            "view_a": calc.present(a.result),
            "view_b": calc.present(b.result),
        },
    )


# --- Comparisons ------------------------------------------------------------------------------------------


@login_required
@require_GET
def comparison_list(request: HttpRequest) -> HttpResponse:
    """The user's teams' comparison jobs, newest first, with their status."""
    jobs = selectors.comparisons_for(request.user).defer("request", "spec", "summary")[:200]
    rows = [{"job": job, "percent": cmp.progress(job) * 100} for job in jobs]
    return render(
        request,
        "web/comparison_list.html",
        {"rows": rows, "has_editor_team": _editor_teams(request.user).exists()},
    )


def _comparison_form(request: HttpRequest, db_catalog, data=None, initial=None) -> ComparisonForm:
    models, hardware = calc.catalog_choices(db_catalog)
    return ComparisonForm(
        data,
        initial=initial,
        teams=_editor_teams(request.user),
        model_choices=models,
        hardware_choices=hardware,
    )


@login_required
@require_http_methods(["GET", "POST"])
def comparison_new(request: HttpRequest) -> HttpResponse:
    """The grid form. GET prefills it from the query string (a link can carry a grid); POST submits the job
    through the same service as POST /api/v1/comparisons/ and shows the engine's errors by their fields."""
    db_catalog = calc.load_catalog()
    if not db_catalog.models or not db_catalog.hardware:
        return render(request, "web/empty_catalog.html", status=503)
    if request.method == "GET":
        initial = ComparisonForm.initial_from_query(request.GET)
        editor_teams = _editor_teams(request.user)
        if "team" not in initial and editor_teams.exists():
            initial["team"] = editor_teams.first().pk
        form = _comparison_form(request, db_catalog, initial=initial)
        return render(request, "web/comparison_new.html", _comparison_form_context(form))
    form = _comparison_form(request, db_catalog, data=request.POST)
    if form.is_valid():
        engine_request = form.engine_request()
        try:
            job = comparisons.comparison_submit(
                user=request.user,
                team=form.cleaned_data["team"],
                name=form.job_name(),
                request=engine_request,
            )
        except ComparisonError as error:
            for field, problems in cmp.field_errors(error.detail, engine_request).items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        except comparisons.ComparisonQuotaExceeded as error:
            form.add_error(None, f"Not queued: {error}.")
            return render(request, "web/comparison_new.html", _comparison_form_context(form), status=429)
        else:
            messages.success(request, f"Queued “{job.name}”: {job.configurations_total:,} configurations.")
            return redirect("web:comparison_detail", job_id=job.pk)
    return render(request, "web/comparison_new.html", _comparison_form_context(form), status=400)


def _comparison_form_context(form: ComparisonForm) -> dict[str, Any]:
    for name in form.errors:
        if name in form.fields:
            form.fields[name].widget.attrs["aria-invalid"] = "true"
    groups = (
        ("Grid", ("models", "hardware", "precisions", "frameworks", "tensor_parallel", "batch_sizes")),
        ("Workload", ("deployment_mode", "prompt_tokens", "output_tokens", "requests_per_hour")),
        ("Constraints", comparisons.CONSTRAINT_FIELDS),
        ("Ranking", ("objective", "top_k", "name", "team")),
    )
    return {
        "form": form,
        "groups": [(title, [form[name] for name in names]) for title, names in groups],
        "has_team": form.fields["team"].queryset.exists(),
    }


def _job_or_404(request: HttpRequest, job_id: int) -> ComparisonJob:
    return get_object_or_404(selectors.comparisons_for(request.user), pk=job_id)


@login_required
@require_GET
def comparison_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job: live progress while it runs (comparisons.js polls the API's status), then the summary, the
    ranked table (?ordering= or a click on a header), the cost-vs-latency chart and the CSV export."""
    job = _job_or_404(request, job_id)
    context: dict[str, Any] = {
        "job": job,
        "percent": cmp.progress(job) * 100,
        "active": job.status in ComparisonJob.ACTIVE,
        "can_edit": access.allowed(request.user, "cancel", job),
        "status_url": reverse("comparison-detail", args=[job.pk]),
        "results_url": reverse("comparison-results", args=[job.pk]),
    }
    if job.status == ComparisonJob.Status.SUCCEEDED:
        snapshot = job.catalog_snapshot or {}
        hardware_names = {key: row.get("name", key) for key, row in snapshot.get("hardware", {}).items()}
        ordering = cmp.ordering_of(request.GET.get("ordering", ""))
        rows = selectors.comparison_rows(job)
        if ordering:
            rows = rows.order_by(ordering, "key")
        rows = list(rows)
        summary = job.summary or {}
        context.update(
            summary=summary,
            reasons=cmp.reasons(summary),
            best=cmp.describe_best(summary, hardware_names),
            headers=cmp.headers(ordering),
            rows=cmp.table_rows(rows, hardware_names),
            points=cmp.chart_points(rows),
            spec=job.spec,
        )
    return render(request, "web/comparison_detail.html", context)


@login_required
@require_POST
def comparison_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    if not access.allowed(request.user, "cancel", job):
        messages.error(request, "Cancelling needs the editor or admin role in the comparison's team.")
    elif comparisons.comparison_cancel(job, user=request.user):
        messages.success(request, "Cancelled.")
    else:
        job.refresh_from_db(fields=["status"])
        messages.info(request, f"The comparison had already {job.status}.")
    return redirect("web:comparison_detail", job_id=job.pk)
