"""Web pages for team calibrations: the list with the fit form, and one calibration's page (status, the
error table before and after, the parameters that moved, the rows that disagree most, the scatter, the
download and the team-default switch). Writes go through planner.services.calibrations, as the API's do."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from calculator import InputError
from planner import access
from planner.models import MeasurementSet, Team, TeamCalibration
from planner.services import calibrations


class FitForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=120)
    measurement_sets = forms.ModelMultipleChoiceField(
        queryset=MeasurementSet.objects.none(), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = access.teams_where(user, "calibration", "fit").order_by("name")
        self.fields["measurement_sets"].queryset = access.restrict(
            MeasurementSet.objects.select_related("team"), user, "view"
        )
        self.fields["measurement_sets"].label_from_instance = lambda s: (
            f"{s.team.name}: {s.name} v{s.version} ({s.row_count} rows)"
        )


def _jobs(user):
    return access.restrict(TeamCalibration.objects.select_related("team", "created_by"), user, "view")


@login_required
@require_http_methods(["GET", "POST"])
def calibration_list(request: HttpRequest) -> HttpResponse:
    form = FitForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = calibrations.calibration_submit(
                user=request.user,
                team=data["team"],
                name=data["name"],
                measurement_sets=list(data["measurement_sets"]),
            )
        except InputError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        except PermissionDenied as error:
            form.add_error("team", str(error))
        else:
            messages.success(
                request, f"Fitting {job.name}: a worker runs it; this page follows its progress."
            )
            return redirect("web:calibration_detail", job_id=job.pk)
    jobs = _jobs(request.user).defer("rows", "calibration", "report")[:200]
    can_fit = form.fields["team"].queryset.exists()
    return render(
        request,
        "web/calibration_list.html",
        {"jobs": jobs, "form": form, "can_fit": can_fit},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def calibration_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(_jobs(request.user), pk=job_id)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "cancel":
                calibrations.calibration_cancel(job, user=request.user)
            elif action == "default":
                calibrations.calibration_set_default(job.team, job, user=request.user)
            elif action == "shipped":
                calibrations.calibration_set_default(job.team, None, user=request.user)
            elif action == "delete":
                calibrations.calibration_delete(job, user=request.user)
                messages.success(request, f"Deleted {job.name}.")
                return redirect("web:calibration_list")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("web:calibration_detail", job_id=job.pk)
    report = job.report or {}
    metrics = [{"metric": name, **values} for name, values in sorted((report.get("metrics") or {}).items())]
    moved = [
        {"cell": cell, "param": name, **values}
        for cell, params in sorted((report.get("moved") or {}).items())
        for name, values in sorted(params.items())
    ]
    names = {str(s.pk): f"{s.name} v{s.version}" for s in job.measurement_sets.all()}
    disagreeing = [
        {**row, "set_name": names.get(str(row.get("set")), "deleted set")}
        for row in report.get("disagreeing", [])
    ]
    return render(
        request,
        "web/calibration_detail.html",
        {
            "job": job,
            "report": report,
            "disagreeing": disagreeing,
            "metrics": metrics,
            "moved": moved,
            "points": report.get("points", []),
            "memory_metrics": [
                {"metric": name, **values}
                for name, values in sorted(((report.get("memory") or {}).get("metrics") or {}).items())
            ],
            "is_default": job.team.default_calibration_id == job.pk,
            "can_cancel": job.status in TeamCalibration.ACTIVE
            and access.allowed(request.user, "cancel", job),
            "can_default": job.status == TeamCalibration.Status.SUCCEEDED
            and access.allowed(request.user, "change", job.team),
            "can_delete": access.allowed(request.user, "delete", job),
            "percent": round(job.progress * 100),
        },
    )
