"""Forms of the web interface. The calculator is bound from the query string (GET): a URL is a result."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.http import QueryDict

from calculator.cost import DEPLOYMENT_MODES
from calculator.frameworks import FRAMEWORKS
from calculator.planning import CONSTRAINTS
from calculator.precisions import KV_PRECISION_BYTES, PRECISIONS
from planner.models import Plan, Team

# Offered tensor-parallel degrees; those that do not divide the model's heads are disabled with the reason.
TP_CHOICES = (1, 2, 3, 4, 6, 8, 16, 32)

CALCULATOR_DEFAULTS: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "hardware": "h100-sxm-80gb",
    "prompt_tokens": 1024,
    "output_tokens": 256,
    "batch_size": 8,
    "num_gpus": 1,
    "tensor_parallel": 1,
    "pipeline_parallel": 1,
    "precision": "fp16",
    "kv_cache_precision": "",
    "framework": "vllm",
    "framework_version": "",
    "deployment_mode": "cloud",
    "requests_per_hour": 1000,
    "calibration": "",  # before the sizing fields: the page's form order, which the shared URL follows
    "request_rate": "",
    "peak_to_mean": "",
    "slo_ttft_p99_ms": "",
    "slo_tpot_p50_ms": "",
    "slo_tpot_p99_ms": "",
    "slo_e2e_p99_s": "",
}
CALCULATOR_FIELDS = tuple(CALCULATOR_DEFAULTS)
# Form field -> key of the engine's SLO (calculator.planning.slo); the API's inputs carry them as slo.{key}.
SLO_FIELDS = {
    "slo_ttft_p99_ms": "ttft_p99_ms",
    "slo_tpot_p50_ms": "tpot_p50_ms",
    "slo_tpot_p99_ms": "tpot_p99_ms",
    "slo_e2e_p99_s": "e2e_p99_s",
}
PP_CHOICES = (1, 2, 4, 8)

DEPLOYMENT_MODE_LABELS = {
    "cloud": "Cloud (rented GPU-hours)",
    "local": "Local (bought hardware + power)",
    "edge": "Edge device",
}


class CalculatorForm(forms.Form):
    """The engine's inputs a person picks; pipeline stages follow from GPUs / TP."""

    model = forms.ChoiceField(label="Model")
    hardware = forms.ChoiceField(label="Hardware")
    calibration = forms.ChoiceField(
        label="Calibration",
        required=False,
        choices=[("", "shipped (public benchmarks)")],
        help_text="One fitted on your team's own benchmarks (Calibrations page); blank: the shipped one "
        "here, and a saved plan takes its team's default.",
    )
    prompt_tokens = forms.IntegerField(label="Prompt tokens", min_value=0, max_value=10_000_000)
    output_tokens = forms.IntegerField(label="Output tokens", min_value=0, max_value=10_000_000)
    batch_size = forms.IntegerField(
        label="Batch size",
        min_value=0,
        max_value=65_536,
        help_text="Concurrent sequences per replica; 0: the largest batch that fits.",
    )
    num_gpus = forms.IntegerField(
        label="Number of GPUs",
        min_value=1,
        max_value=4096,
        help_text="All GPUs; those beyond TP x PP are data-parallel replicas (a multiple of TP x PP).",
    )
    tensor_parallel = forms.TypedChoiceField(
        label="Tensor parallel (TP)", coerce=int, choices=[(tp, str(tp)) for tp in TP_CHOICES]
    )
    pipeline_parallel = forms.TypedChoiceField(
        label="Pipeline stages (PP)", coerce=int, choices=[(pp, str(pp)) for pp in PP_CHOICES]
    )
    precision = forms.ChoiceField(
        label="Weight precision",
        choices=[
            (key, f"{key} — {spec.description}" if spec.description else key)
            for key, spec in PRECISIONS.items()
        ],
    )
    kv_cache_precision = forms.ChoiceField(
        label="KV-cache precision",
        required=False,
        choices=[("", "Default (16-bit)")] + [(key, key) for key in KV_PRECISION_BYTES],
    )
    framework = forms.ChoiceField(
        label="Framework", choices=[(key, spec.key) for key, spec in FRAMEWORKS.items()]
    )
    framework_version = forms.CharField(
        label="Framework release",
        required=False,
        max_length=64,
        help_text="e.g. 0.5.4 or 1.2.0: that release's engine era (vLLM V0 before 0.8, TensorRT-LLM 0.x "
        "engines); blank: the newest.",
    )
    deployment_mode = forms.ChoiceField(
        label="Deployment mode",
        choices=[(mode, DEPLOYMENT_MODE_LABELS.get(mode, mode)) for mode in DEPLOYMENT_MODES],
    )
    requests_per_hour = forms.FloatField(
        label="Requests per hour",
        min_value=0,
        max_value=1e12,
        help_text="Sizes replicas and the monthly cost.",
    )
    request_rate = forms.FloatField(
        label="Requests per second",
        required=False,
        min_value=0,
        max_value=1e9,
        help_text="Optional; replaces requests per hour as the traffic.",
    )
    peak_to_mean = forms.FloatField(
        label="Peak-to-mean",
        required=False,
        min_value=1,
        max_value=1e6,
        help_text="Size for the peak: mean rate x this (default 1).",
    )
    slo_ttft_p99_ms = forms.FloatField(label="SLO: TTFT p99 (ms)", required=False, min_value=0, max_value=1e9)
    slo_tpot_p50_ms = forms.FloatField(label="SLO: TPOT p50 (ms)", required=False, min_value=0, max_value=1e9)
    slo_tpot_p99_ms = forms.FloatField(label="SLO: TPOT p99 (ms)", required=False, min_value=0, max_value=1e9)
    slo_e2e_p99_s = forms.FloatField(
        label="SLO: end-to-end p99 (s)", required=False, min_value=0, max_value=1e9
    )

    def __init__(self, *args: Any, model_choices=(), hardware_choices=(), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = list(model_choices)
        self.fields["hardware"].choices = list(hardware_choices)

    calibration_teams: dict[str, int] = {}
    """The team of each calibration offered (an estimate on one runs with its team)."""

    def set_calibrations(self, calibrations: Iterable[Any]) -> None:
        """The calibrations the user may pick (their teams' succeeded ones) after the shipped one."""
        offered = list(calibrations)
        self.calibration_teams = {str(c.pk): c.team_id for c in offered}
        choices = [(str(c.pk), f"{c.team.name}: {c.name}") for c in offered]
        self.fields["calibration"].choices = [("", "shipped (public benchmarks)"), *choices]

    @classmethod
    def from_query(cls, query: QueryDict, **kwargs: Any) -> CalculatorForm:
        """Bind the query string over the defaults, so a partial or empty URL still gives a result."""
        data = QueryDict(mutable=True)
        for name, default in CALCULATOR_DEFAULTS.items():
            data[name] = query.get(name, default)
        return cls(data=data, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        gpus, tp, pp = (
            cleaned.get("num_gpus"),
            cleaned.get("tensor_parallel"),
            cleaned.get("pipeline_parallel"),
        )
        if gpus is not None and tp is not None and pp is not None and gpus % (tp * pp):
            self.add_error(
                "num_gpus",
                f"must be a multiple of TP x PP ({tp * pp}): the GPUs beyond one TP x PP group are replicas.",
            )
        return cleaned

    def engine_inputs(self) -> dict[str, Any]:
        """The inputs estimates.estimate_run takes (the API's shape)."""
        c = self.cleaned_data
        return {
            "calibration": c.get("calibration") or None,
            "model": c["model"],
            "hardware": c["hardware"],
            "prompt_tokens": c["prompt_tokens"],
            "output_tokens": c["output_tokens"],
            "batch_size": c["batch_size"],
            "num_gpus": c["num_gpus"],
            "tensor_parallel": c["tensor_parallel"],
            "pipeline_parallel": c["pipeline_parallel"],
            "precision": c["precision"],
            "kv_cache_precision": c["kv_cache_precision"] or None,
            "framework": c["framework"],
            "framework_version": c["framework_version"].strip() or None,
            "deployment_mode": c["deployment_mode"],
            "requests_per_hour": c["requests_per_hour"],
            "request_rate": c["request_rate"] or None,
            "peak_to_mean": c["peak_to_mean"],
            "slo": {key: c[name] for name, key in SLO_FIELDS.items() if c[name] is not None} or None,
        }


def query_from_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Calculator query parameters for stored (canonical) inputs, e.g. a plan version's."""
    pp = inputs.get("pipeline_parallel") or 1
    tp = inputs.get("tensor_parallel") or max((inputs.get("num_gpus") or 1) // pp, 1)
    gpus = inputs.get("num_gpus") or tp * pp * (inputs.get("replicas") or 1)
    query = {name: inputs.get(name, default) for name, default in CALCULATOR_DEFAULTS.items()}
    slo = inputs.get("slo") or {}
    query.update(
        tensor_parallel=tp,
        pipeline_parallel=pp,
        num_gpus=gpus,
        kv_cache_precision=inputs.get("kv_cache_precision") or "",
        framework_version=inputs.get("framework_version") or "",
        requests_per_hour=plain_number(inputs.get("requests_per_hour") or 0),
        request_rate=plain_number(inputs["request_rate"]) if inputs.get("request_rate") else "",
        peak_to_mean=plain_number(inputs["peak_to_mean"]) if inputs.get("peak_to_mean") else "",
        **{name: plain_number(slo[key]) if slo.get(key) else "" for name, key in SLO_FIELDS.items()},
    )
    calibration = inputs.get("calibration")
    query["calibration"] = "" if calibration in (None, "shipped") else str(calibration)
    return query


def plain_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class PlanSaveForm(forms.Form):
    name = forms.CharField(label="Plan name", max_length=200)
    team = forms.ModelChoiceField(label="Team", queryset=Team.objects.none(), empty_label=None)
    visibility = forms.ChoiceField(
        label="Visible to", choices=Plan.Visibility.choices, initial=Plan.Visibility.TEAM
    )

    def __init__(self, *args: Any, teams=None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields["team"].queryset = teams


class TeamForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=120)
    slug = forms.SlugField(
        label="Short name (slug)", max_length=120, required=False, help_text="Derived from the name if empty."
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug and Team.objects.filter(slug=slug).exists():
            raise forms.ValidationError("This short name is taken; pick another.")
        return slug


# --- Comparisons ------------------------------------------------------------------------------------------

COMPARISON_TP_CHOICES = (1, 2, 4, 8)
COMPARISON_BATCH_CHOICES = ("auto", "1", "4", "16", "64", "256")
ALL = "*"

COMPARISON_DEFAULTS: dict[str, Any] = {
    "models": ["llama-3.1-8b", "qwen2.5-7b"],
    "hardware": [ALL],
    "precisions": ["fp16", "fp8"],
    "frameworks": ["vllm"],
    "tensor_parallel": ["1", "2", "4"],
    "batch_sizes": ["auto"],
    "deployment_mode": "cloud",
    "prompt_tokens": 1024,
    "output_tokens": 256,
    "requests_per_hour": 2000,
    "objective": "cost",
    "top_k": 20,
}
COMPARISON_LIST_FIELDS = ("models", "hardware", "precisions", "frameworks", "tensor_parallel", "batch_sizes")
OBJECTIVE_LABELS = {
    "cost": "Cost per 1M output tokens",
    "latency": "Latency (TPOT)",
    "throughput": "Output throughput",
    "balanced": "Balanced",
}


class NamesField(forms.MultipleChoiceField):
    """A multi-select of catalog names that the engine checks (calculator.planning.resolve_spec), so an
    unknown name arriving in a link gets the API's message next to the field instead of Django's."""

    def valid_value(self, value: str) -> bool:
        return True


class ComparisonForm(forms.Form):
    """The grid, workload, constraints and objective of a comparison; the engine validates the names and
    the size, and its errors are put next to these fields (see planner.web.comparisons.field_errors)."""

    name = forms.CharField(
        label="Name", max_length=200, required=False, help_text="Left blank: named after the models."
    )
    team = forms.ModelChoiceField(label="Team", queryset=Team.objects.none(), empty_label=None)
    models = NamesField(label="Models", help_text="Ctrl/Cmd-click to pick several.")
    hardware = NamesField(label="Hardware", help_text="“All hardware” takes every catalog entry.")
    precisions = NamesField(
        label="Weight precisions",
        choices=[
            (key, f"{key} — {spec.description}" if spec.description else key)
            for key, spec in PRECISIONS.items()
        ],
    )
    frameworks = NamesField(label="Frameworks", choices=[(key, key) for key in FRAMEWORKS])
    tensor_parallel = forms.TypedMultipleChoiceField(
        label="Tensor parallel (GPUs per replica)",
        coerce=int,
        choices=[(str(tp), str(tp)) for tp in COMPARISON_TP_CHOICES],
        widget=forms.CheckboxSelectMultiple,
    )
    batch_sizes = forms.MultipleChoiceField(
        label="Batch sizes",
        choices=[(b, "auto (largest that fits)" if b == "auto" else b) for b in COMPARISON_BATCH_CHOICES],
        widget=forms.CheckboxSelectMultiple,
    )
    deployment_mode = forms.ChoiceField(
        label="Deployment mode",
        choices=[(mode, DEPLOYMENT_MODE_LABELS.get(mode, mode)) for mode in DEPLOYMENT_MODES],
    )
    prompt_tokens = forms.IntegerField(label="Prompt tokens", min_value=1, max_value=10_000_000)
    output_tokens = forms.IntegerField(label="Output tokens", min_value=1, max_value=10_000_000)
    requests_per_hour = forms.FloatField(
        label="Requests per hour", min_value=0, max_value=1e12, help_text="Sizes replicas and monthly cost."
    )
    max_ttft_ms = forms.FloatField(label="Max TTFT (ms)", required=False)
    max_tpot_ms = forms.FloatField(label="Max TPOT (ms)", required=False)
    max_monthly_cost_usd = forms.FloatField(label="Max monthly cost ($)", required=False)
    min_output_tokens_per_s = forms.FloatField(label="Min throughput (tok/s)", required=False)
    objective = forms.ChoiceField(label="Rank by", choices=list(OBJECTIVE_LABELS.items()))
    top_k = forms.IntegerField(
        label="Ranked rows (top k)",
        min_value=1,
        max_value=1000,
        help_text="Pareto and best-per rows come too.",
    )

    def __init__(self, *args: Any, teams=None, model_choices=(), hardware_choices=(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields["team"].queryset = teams
        hardware_choices = list(hardware_choices)
        self.fields["models"].choices = self._with_extra("models", list(model_choices))
        self.fields["hardware"].choices = self._with_extra(
            "hardware", [(ALL, f"All hardware ({len(hardware_choices)})"), *hardware_choices]
        )
        for name in ("precisions", "frameworks"):
            self.fields[name].choices = self._with_extra(name, list(self.fields[name].choices))
        for name, field in self.fields.items():
            described = [f"help-{name}"] if field.help_text else []
            field.widget.attrs["aria-describedby"] = " ".join([*described, f"errors-{name}"])
            if isinstance(field.widget, forms.SelectMultiple) and not isinstance(
                field.widget, forms.CheckboxSelectMultiple
            ):
                field.widget.attrs["size"] = "8" if name in ("models", "hardware") else "5"

    def _with_extra(self, name: str, choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Names that arrived in the request but are not offered stay selectable, so the engine can say
        what is wrong with them."""
        known = {str(value) for value, _ in choices}
        if self.is_bound:
            picked = self.data.getlist(name) if hasattr(self.data, "getlist") else self.data.get(name, [])
        else:
            picked = self.initial.get(name) or []
        extra = [value for value in picked if str(value) not in known]
        return choices + [(value, f"{value} (not in the catalog)") for value in extra]

    @classmethod
    def initial_from_query(cls, query: QueryDict) -> dict[str, Any]:
        """The defaults, overridden by any field present in the query string (a link prefills the form)."""
        initial = dict(COMPARISON_DEFAULTS)
        for name in cls.base_fields:
            if name in COMPARISON_LIST_FIELDS:
                values = [v for v in query.getlist(name) if v != ""]
                if values:
                    initial[name] = values
            elif query.get(name, "") != "":
                initial[name] = query[name]
        return initial

    def engine_request(self) -> dict[str, Any]:
        """The request POST /api/v1/comparisons/ takes (without name and team)."""
        c = self.cleaned_data
        return {
            "grid": {
                "models": c["models"],
                "hardware": [ALL] if ALL in c["hardware"] else c["hardware"],
                "precisions": c["precisions"],
                "frameworks": c["frameworks"],
                "tensor_parallel": c["tensor_parallel"],
                "batch_sizes": [b if b == "auto" else int(b) for b in c["batch_sizes"]],
                "deployment_modes": [c["deployment_mode"]],
            },
            "workload": {
                "prompt_tokens": c["prompt_tokens"],
                "output_tokens": c["output_tokens"],
                "requests_per_hour": c["requests_per_hour"],
            },
            "constraints": {
                name: c[name]
                for name in (constraint.name for constraint in CONSTRAINTS)
                if c.get(name) is not None
            },
            "objective": c["objective"],
            "top_k": c["top_k"],
        }

    def job_name(self) -> str:
        c = self.cleaned_data
        if c.get("name"):
            return c["name"]
        models = c["models"]
        hardware = "all hardware" if ALL in c["hardware"] else f"{len(c['hardware'])} hardware"
        shown = ", ".join(models[:3]) + (f" +{len(models) - 3}" if len(models) > 3 else "")
        return f"{shown} on {hardware}"[:200]


# --- Capacity plan ----------------------------------------------------------------------------------------

CAPACITY_OBJECTIVE_LABELS = {
    "cost": "Lowest $/month",
    "gpus": "Fewest GPUs",
    "throughput_per_gpu": "Most tokens/s per GPU",
    "throughput": "Most tokens/s in the GPU budget",
}


class CapacityForm(forms.Form):
    """A capacity question (calculator.planning.capacity), bound from the query string like the calculator;
    the engine checks names and combinations and its errors are put next to these fields."""

    model = forms.ChoiceField(label="Model")
    requests_per_hour = forms.FloatField(
        label="Requests per hour", required=False, min_value=0, max_value=1e12, initial=36000
    )
    request_rate = forms.FloatField(
        label="Requests per second", required=False, min_value=0, max_value=1e9, help_text="Or per hour."
    )
    peak_to_mean = forms.FloatField(label="Peak-to-mean", required=False, min_value=1, max_value=1e6)
    prompt_tokens = forms.IntegerField(label="Prompt tokens", min_value=1, max_value=10_000_000, initial=1000)
    output_tokens = forms.IntegerField(label="Output tokens", min_value=1, max_value=10_000_000, initial=200)
    slo_ttft_p99_ms = forms.FloatField(label="SLO: TTFT p99 (ms)", required=False, min_value=0)
    slo_tpot_p50_ms = forms.FloatField(label="SLO: TPOT p50 (ms)", required=False, min_value=0)
    slo_tpot_p99_ms = forms.FloatField(label="SLO: TPOT p99 (ms)", required=False, min_value=0)
    slo_e2e_p99_s = forms.FloatField(label="SLO: end-to-end p99 (s)", required=False, min_value=0)
    hardware = forms.MultipleChoiceField(
        label="Hardware",
        required=False,
        help_text="None picked: every catalog entry. Ctrl/Cmd-click for several.",
    )
    precisions = forms.MultipleChoiceField(
        label="Weight precisions",
        required=False,
        choices=[(key, key) for key in PRECISIONS],
        help_text="None picked: all.",
    )
    frameworks = forms.MultipleChoiceField(
        label="Frameworks",
        required=False,
        choices=[(key, key) for key in FRAMEWORKS],
        help_text="None picked: all current ones.",
    )
    tensor_parallel = forms.TypedMultipleChoiceField(
        label="Tensor parallel",
        required=False,
        coerce=int,
        choices=[(str(tp), str(tp)) for tp in COMPARISON_TP_CHOICES],
        widget=forms.CheckboxSelectMultiple,
        help_text="None picked: 1, 2, 4 and 8.",
    )
    max_gpus_per_replica = forms.IntegerField(label="Max GPUs per replica", required=False, min_value=1)
    max_total_gpus = forms.IntegerField(
        label="GPU budget (total)", required=False, min_value=1, help_text="Without a traffic: fill it."
    )
    max_monthly_usd = forms.FloatField(label="Max $/month", required=False, min_value=0)
    objective = forms.ChoiceField(
        label="Rank by", required=False, choices=[("", "Default"), *CAPACITY_OBJECTIVE_LABELS.items()]
    )

    def __init__(self, *args: Any, model_choices=(), hardware_choices=(), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = list(model_choices)
        self.fields["hardware"].choices = list(hardware_choices)

    def engine_request(self) -> dict[str, Any]:
        """The raw request resolve_capacity_request takes (the API's shape)."""
        c = self.cleaned_data
        raw: dict[str, Any] = {
            "model": c["model"],
            "prompt_tokens": c["prompt_tokens"],
            "output_tokens": c["output_tokens"],
        }
        if c["request_rate"]:
            raw["requests_per_s"] = c["request_rate"]
        elif c["requests_per_hour"]:
            raw["requests_per_hour"] = c["requests_per_hour"]
        for name in ("peak_to_mean", "max_gpus_per_replica", "max_total_gpus", "max_monthly_usd"):
            if c[name] is not None:
                raw[name] = c[name]
        for name in ("hardware", "precisions", "frameworks", "tensor_parallel"):
            if c[name]:
                raw[name] = c[name]
        if c["objective"]:
            raw["objective"] = c["objective"]
        slo = {key: c[name] for name, key in SLO_FIELDS.items() if c[name] is not None}
        if slo:
            raw["slo"] = slo
        return raw
