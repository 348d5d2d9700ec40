"""Web pages for a team's own benchmark files: the list with the upload form, and one set's rows. Uploads go
through the same service as POST /api/v1/measurement-sets/ (planner.services.measurements)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from calculator.measurements import CONTEXT_FIELDS, FORMATS, MeasurementFileError
from planner import access
from planner.models import MeasurementSet, Team
from planner.services.measurements import PartialFile, Upload, measurement_set_delete, measurement_set_upload

LISTED_ROWS = 500


class UploadForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=120, help_text="Uploading a name again adds a version.")
    file = forms.FileField(
        help_text="The project's CSV, vllm bench serve / SGLang bench_serving JSON, GuideLLM or genai-perf "
        "reports, trtllm-bench output, llama-bench tables or a vLLM start-up log."
    )
    format = forms.ChoiceField(choices=[("", "recognise it")] + [(f, f) for f in FORMATS], required=False)
    confirm_partial = forms.BooleanField(
        required=False, label="Store the valid rows if some are invalid (they are listed)"
    )
    model = forms.CharField(required=False, help_text="Only where the file does not say; never guessed.")
    hardware = forms.CharField(required=False)
    num_gpus = forms.IntegerField(required=False, min_value=1, max_value=4096)
    precision = forms.CharField(required=False)
    framework = forms.CharField(required=False)
    framework_version = forms.CharField(required=False)
    tp = forms.IntegerField(required=False, min_value=1, max_value=1024, label="Tensor parallel")
    pp = forms.IntegerField(required=False, min_value=1, max_value=1024, label="Pipeline parallel")
    scenario = forms.CharField(required=False)
    kv_cache_precision = forms.CharField(required=False)
    max_model_len = forms.IntegerField(required=False, min_value=1)
    gpu_memory_utilization = forms.FloatField(required=False, min_value=0.01, max_value=1.0)

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams

    def upload(self) -> Upload:
        data = self.cleaned_data
        file = data["file"]
        return Upload(
            name=data["name"],
            file_name=(file.name or "upload")[:255],
            data=file.read(),
            format_name=data["format"] or None,
            context={k: str(data[k]) for k in CONTEXT_FIELDS if data.get(k) not in (None, "")},
            confirm_partial=data["confirm_partial"],
        )


def _upload_teams(user):
    return access.teams_where(user, "measurements", "upload").order_by("name")


@login_required
@require_http_methods(["GET", "POST"])
def measurement_list(request: HttpRequest) -> HttpResponse:
    """The user's teams' measurement sets, and the upload form for teams where they may upload."""
    teams = _upload_teams(request.user)
    form = UploadForm(request.POST or None, request.FILES or None, teams=teams)
    invalid_rows, valid_rows = [], None
    if request.method == "POST" and form.is_valid():
        try:
            stored = measurement_set_upload(
                user=request.user, team=form.cleaned_data["team"], upload=form.upload()
            )
        except MeasurementFileError as e:
            where = f"line {e.line}: " if e.line else ""
            form.add_error("file", f"{where}{e}" if not where else f"{where}{e.message} ({e.field})")
        except PartialFile as e:
            invalid_rows, valid_rows = [r.as_dict() for r in e.errors[:LISTED_ROWS]], e.good
            form.add_error(
                "confirm_partial",
                f"{len(e.errors)} rows are invalid (below); nothing was stored. Tick this box and choose the "
                f"file again to store the {e.good} valid rows.",
            )
        except PermissionDenied as e:
            form.add_error("team", str(e))
        else:
            messages.success(request, f"Stored {stored.row_count} rows as {stored.name} v{stored.version}.")
            return redirect("web:measurement_detail", set_id=stored.pk)
    sets = access.restrict(MeasurementSet.objects.select_related("team", "uploaded_by"), request.user, "view")
    return render(
        request,
        "web/measurement_list.html",
        {
            "sets": sets[:200],
            "form": form,
            "can_upload": teams.exists(),
            "invalid_rows": invalid_rows,
            "valid_rows": valid_rows,
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def measurement_detail(request: HttpRequest, set_id: int) -> HttpResponse:
    sets = access.restrict(MeasurementSet.objects.select_related("team", "uploaded_by"), request.user, "view")
    measurement_set = get_object_or_404(sets, pk=set_id)
    if request.method == "POST":  # delete
        measurement_set_delete(measurement_set, user=request.user)
        messages.success(request, f"Deleted {measurement_set.name} v{measurement_set.version}.")
        return redirect("web:measurement_list")
    return render(
        request,
        "web/measurement_detail.html",
        {
            "set": measurement_set,
            "rows": measurement_set.rows.all()[:LISTED_ROWS],
            "listed": LISTED_ROWS,
            "can_delete": access.allowed(request.user, "delete", measurement_set),
        },
    )
