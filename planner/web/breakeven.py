"""The break-even page: a hosted API's published price against renting or buying the GPUs each traffic
level needs (estimates.breakeven, like POST /api/v1/breakeven/), as a table and a log-log chart of monthly
cost against requests per day with the crossovers marked."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from calculator import InputError
from calculator.frameworks import FRAMEWORKS
from calculator.planning.breakeven import DEFAULT_LEVELS, OPTION_LABELS, OPTIONS
from calculator.precisions import PRECISIONS
from planner.services import estimates
from planner.web import calculator as calc
from planner.web.forms import SLO_FIELDS

LEVEL_SEPARATORS = re.compile(r"[,\s;]+")
# Engine field names that are not form fields, mapped to the field that shows their error.
FIELD_OF = {"requests_per_day": "levels", "precisions": "precisions", "options": "options"}


class BreakevenForm(forms.Form):
    """A break-even question, bound from the query string; the engine checks names and ranges and its errors
    are put next to these fields."""

    model = forms.ChoiceField(label="Model")
    levels = forms.CharField(
        label="Requests per day",
        initial=", ".join(f"{v:g}" for v in DEFAULT_LEVELS),
        help_text="Traffic levels, comma-separated.",
    )
    prompt_tokens = forms.IntegerField(label="Prompt tokens", min_value=1, max_value=10_000_000, initial=1000)
    output_tokens = forms.IntegerField(label="Output tokens", min_value=1, max_value=10_000_000, initial=200)
    peak_to_mean = forms.FloatField(label="Peak-to-mean", required=False, min_value=1, max_value=1e6)
    slo_ttft_p99_ms = forms.FloatField(label="SLO: TTFT p99 (ms)", required=False, min_value=0)
    slo_tpot_p50_ms = forms.FloatField(label="SLO: TPOT p50 (ms)", required=False, min_value=0)
    hardware = forms.MultipleChoiceField(
        label="Hardware", required=False, help_text="None picked: every catalog entry with a price."
    )
    precisions = forms.MultipleChoiceField(
        label="Self-hosted precisions",
        required=False,
        choices=[(key, key) for key in PRECISIONS],
        help_text="None picked: bf16, fp16 and fp8 (the hosted APIs' own).",
    )
    frameworks = forms.MultipleChoiceField(
        label="Frameworks",
        required=False,
        choices=[(key, key) for key in FRAMEWORKS],
        help_text="None picked: all current ones.",
    )
    options = forms.MultipleChoiceField(
        label="Self-hosted options",
        required=False,
        choices=[
            ("rent", "Rent on demand"),
            ("rent_spot", "Rent spot"),
            ("rent_reserved_1y", "Rent 1-year reserved"),
            ("rent_reserved_3y", "Rent 3-year reserved"),
            ("rent_capacity_block", "Rent capacity blocks"),
            ("buy", "Buy"),
        ],
        widget=forms.CheckboxSelectMultiple,
        help_text="None picked: all. On demand bills the catalog's cloud price; spot, reserved and capacity "
        "blocks each accelerator's cheapest point of that kind in whole instances (a reserved term bills "
        "every hour of the term, capacity blocks are booked back to back); buy counts purchase and power, "
        "at a whole server's list price where one is published.",
    )
    lifetime_years = forms.FloatField(label="Lifetime (years)", required=False, min_value=0.01, initial=3)
    usd_per_kwh = forms.FloatField(label="$/kWh", required=False, min_value=0, initial=0.12)
    pue = forms.FloatField(label="PUE", required=False, min_value=1, initial=1.3)
    ops_usd_per_gpu_month = forms.FloatField(label="Operations $/GPU-month", required=False, min_value=0)

    def __init__(self, *args: Any, model_choices=(), hardware_choices=(), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = list(model_choices)
        self.fields["hardware"].choices = list(hardware_choices)

    def clean_levels(self) -> list[float]:
        values = []
        for text in LEVEL_SEPARATORS.split(self.cleaned_data["levels"].strip()):
            if not text:
                continue
            try:
                values.append(float(text.replace("_", "")))
            except ValueError:
                raise forms.ValidationError(f"{text!r} is not a number") from None
        if not values:
            raise forms.ValidationError("give at least one traffic level")
        return values

    def engine_request(self) -> dict[str, Any]:
        """The raw request resolve_breakeven_request takes (the API's shape)."""
        c = self.cleaned_data
        raw: dict[str, Any] = {
            "model": c["model"],
            "requests_per_day": c["levels"],
            "prompt_tokens": c["prompt_tokens"],
            "output_tokens": c["output_tokens"],
        }
        for name in ("peak_to_mean", "lifetime_years", "usd_per_kwh", "pue", "ops_usd_per_gpu_month"):
            if c[name] is not None:
                raw[name] = c[name]
        for name in ("hardware", "precisions", "frameworks", "options"):
            if c[name]:
                raw[name] = c[name]
        slo = {key: c[name] for name, key in SLO_FIELDS.items() if name in c and c[name] is not None}
        if slo:
            raw["slo"] = slo
        return raw


def chart_data(result: dict[str, Any]) -> dict[str, Any]:
    """What breakeven.js draws: one line per option (monthly $ against requests/day) and the crossovers."""
    names = [p["provider"] for p in result["prices"]] + list(result["request"]["options"])
    lines = []
    for name in names:
        points = [
            {"x": lv["requests_per_day"], "y": lv["options"][name]["monthly_usd"]}
            for lv in result["curve"]
            if lv["options"][name]["monthly_usd"]
        ]
        kind = "api" if name not in OPTIONS else name
        label = f"{name} API" if kind == "api" else OPTION_LABELS[name]
        lines.append({"label": label, "kind": kind, "points": points})
    crossings = [
        {
            "label": f"{OPTION_LABELS[c['option']]} = {c['provider']}",
            "x": c["requests_per_day"],
            "y": c["api_monthly_usd"],
        }
        for c in result["crossovers"]
        if c["requests_per_day"] is not None
    ]
    return {"lines": lines, "crossovers": crossings}


def breakeven(request: HttpRequest) -> HttpResponse:
    db_catalog = calc.load_catalog()
    if not db_catalog.models or not db_catalog.hardware:
        return render(request, "web/empty_catalog.html", status=503)
    models, hardware = calc.catalog_choices(db_catalog)
    submitted = "model" in request.GET
    form = BreakevenForm(request.GET if submitted else None, model_choices=models, hardware_choices=hardware)
    if not submitted:
        form.initial = {"model": "llama-3.1-70b", "slo_ttft_p99_ms": 2000}
    context: dict[str, Any] = {"form": form}
    if submitted and form.is_valid():
        try:
            result = estimates.breakeven(form.engine_request()).to_dict()
        except InputError as error:
            field = FIELD_OF.get(error.field, error.field)
            if field.startswith("slo."):
                field = "slo_" + field.removeprefix("slo.")
            form.add_error(field if field in form.fields else None, error.message)
        else:
            tokens = result["request"]["prompt_tokens"] + result["request"]["output_tokens"]
            names = [p["provider"] for p in result["prices"]] + list(result["request"]["options"])
            columns = [{"name": n, "label": OPTION_LABELS.get(n) or f"{n} API"} for n in names]
            rows = []
            for lv in result["levels"]:
                cells = []
                for name in names:
                    option = lv["options"][name]
                    deployment = option.get("deployment")
                    cells.append({"name": name, **option, "deployment": deployment, "tokens": tokens})
                rows.append({"requests_per_day": lv["requests_per_day"], "cells": cells})
            context.update(
                result=result,
                columns=columns,
                rows=rows,
                chart=chart_data(result),
            )
    return render(request, "web/breakeven.html", context)
