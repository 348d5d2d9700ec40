"""Forms of the web interface. The calculator is bound from the query string (GET): a URL is a result."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from calculator.cost import DEPLOYMENT_MODES
from calculator.frameworks import FRAMEWORKS
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
    "precision": "fp16",
    "kv_cache_precision": "",
    "framework": "vllm",
    "deployment_mode": "cloud",
    "requests_per_hour": 1000,
}
CALCULATOR_FIELDS = tuple(CALCULATOR_DEFAULTS)

DEPLOYMENT_MODE_LABELS = {
    "cloud": "Cloud (rented GPU-hours)",
    "local": "Local (bought hardware + power)",
    "edge": "Edge device",
}


class CalculatorForm(forms.Form):
    """The engine's inputs a person picks; pipeline stages follow from GPUs / TP."""

    model = forms.ChoiceField(label="Model")
    hardware = forms.ChoiceField(label="Hardware")
    prompt_tokens = forms.IntegerField(label="Prompt tokens", min_value=0, max_value=10_000_000)
    output_tokens = forms.IntegerField(label="Output tokens", min_value=0, max_value=10_000_000)
    batch_size = forms.IntegerField(
        label="Batch size", min_value=1, max_value=65_536, help_text="Concurrent sequences per replica."
    )
    num_gpus = forms.IntegerField(
        label="Number of GPUs",
        min_value=1,
        max_value=4096,
        help_text="Per replica; more GPUs than TP become pipeline stages.",
    )
    tensor_parallel = forms.TypedChoiceField(
        label="Tensor parallel (TP)", coerce=int, choices=[(tp, str(tp)) for tp in TP_CHOICES]
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

    def __init__(self, *args: Any, model_choices=(), hardware_choices=(), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = list(model_choices)
        self.fields["hardware"].choices = list(hardware_choices)

    @classmethod
    def from_query(cls, query: QueryDict, **kwargs: Any) -> CalculatorForm:
        """Bind the query string over the defaults, so a partial or empty URL still gives a result."""
        data = QueryDict(mutable=True)
        for name, default in CALCULATOR_DEFAULTS.items():
            data[name] = query.get(name, default)
        return cls(data=data, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        gpus, tp = cleaned.get("num_gpus"), cleaned.get("tensor_parallel")
        if gpus is not None and tp is not None and gpus % tp:
            self.add_error(
                "num_gpus", f"must be a multiple of TP ({tp}): the GPUs beyond TP form pipeline stages."
            )
        return cleaned

    def engine_inputs(self) -> dict[str, Any]:
        """The inputs services.estimate_run takes (the API's shape)."""
        c = self.cleaned_data
        return {
            "model": c["model"],
            "hardware": c["hardware"],
            "prompt_tokens": c["prompt_tokens"],
            "output_tokens": c["output_tokens"],
            "batch_size": c["batch_size"],
            "num_gpus": c["num_gpus"],
            "tensor_parallel": c["tensor_parallel"],
            "pipeline_parallel": c["num_gpus"] // c["tensor_parallel"],
            "precision": c["precision"],
            "kv_cache_precision": c["kv_cache_precision"] or None,
            "framework": c["framework"],
            "deployment_mode": c["deployment_mode"],
            "requests_per_hour": c["requests_per_hour"],
        }


def query_from_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Calculator query parameters for stored (canonical) inputs, e.g. a plan version's."""
    pp = inputs.get("pipeline_parallel") or 1
    tp = inputs.get("tensor_parallel") or max((inputs.get("num_gpus") or 1) // pp, 1)
    gpus = inputs.get("num_gpus") or tp * pp
    query = {name: inputs.get(name, default) for name, default in CALCULATOR_DEFAULTS.items()}
    query.update(
        tensor_parallel=tp,
        num_gpus=gpus,
        kv_cache_precision=inputs.get("kv_cache_precision") or "",
        requests_per_hour=_plain_number(inputs.get("requests_per_hour") or 0),
    )
    return query


def _plain_number(value: float) -> float | int:
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
    slug = forms.SlugField(label="Short name (slug)", max_length=120)

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Team.objects.filter(slug=slug).exists():
            raise forms.ValidationError("This short name is taken; pick another.")
        return slug
