"""Input and output serializers, fields listed explicitly. Units: the catalog is SI as in the engine
(bytes, bytes/s, FLOP/s, seconds); a few read-only GiB/GB/s/TFLOPS figures are added for people."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from calculator.planning import OBJECTIVES
from calculator.planning.breakeven import OPTIONS
from calculator.planning.capacity import CAPACITY_OBJECTIVES
from planner.models import (
    ComparisonJob,
    ComparisonResultRow,
    Hardware,
    HostedApiPrice,
    Invitation,
    LLMModel,
    Membership,
    Plan,
    PlanVersion,
    PricePoint,
    Role,
    Team,
)
from planner.services import comparisons

_GIB = 2**30


def _run_model_clean(model_class, instance, attrs: dict[str, Any]) -> None:
    """Apply the model's clean() (the rules the admin applies) to the merged instance + attrs."""
    values = (
        {f.name: getattr(instance, f.name) for f in model_class._meta.concrete_fields} if instance else {}
    )
    values.update(attrs)
    candidate = model_class(**{k: v for k, v in values.items() if k not in ("created_at", "updated_at")})
    try:
        candidate.clean()
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from None


class _StrictSerializer(serializers.Serializer):
    """A request body whose unknown fields are refused by name: a misspelt input would otherwise silently
    take its default."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in sorted(unknown)})
        return super().to_internal_value(data)


class AliasesField(serializers.ListField):
    child = serializers.CharField(max_length=200)


# --- Catalog ----------------------------------------------------------------------------------------------

HARDWARE_FIELDS = (
    "key", "name", "vendor", "kind", "aliases",
    "memory_bytes", "usable_memory_bytes", "memory_bandwidth_bytes_per_s",
    "fp32_flops", "tf32_dense_flops", "fp16_dense_flops", "bf16_dense_flops", "fp8_dense_flops",
    "fp4_dense_flops", "int8_dense_ops", "int4_dense_ops",
    "tdp_watts", "interconnect_bytes_per_s", "interconnect_latency_s", "cloud_usd_per_hour", "purchase_usd",
    "notes", "source",
)  # fmt: skip


class HardwareSerializer(serializers.ModelSerializer):
    aliases = AliasesField(required=False)
    memory_gib = serializers.SerializerMethodField()
    memory_bandwidth_gb_per_s = serializers.SerializerMethodField()

    class Meta:
        model = Hardware
        fields = (
            "id",
            *HARDWARE_FIELDS,
            "memory_gib",
            "memory_bandwidth_gb_per_s",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "created_at", "updated_at")

    def get_memory_gib(self, row: Hardware) -> float:
        return round(row.memory_bytes / _GIB, 3)

    def get_memory_bandwidth_gb_per_s(self, row: Hardware) -> float:
        return round(row.memory_bandwidth_bytes_per_s / 1e9, 3)

    def validate(self, attrs):
        _run_model_clean(Hardware, self.instance, attrs)
        return attrs


MODEL_FIELDS = (
    "key", "name", "family", "aliases",
    "params_total", "params_active", "params_embedding", "params_routed_experts", "params_vision",
    "num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "intermediate_size",
    "vocab_size", "max_context_tokens", "attention", "kv_lora_rank", "qk_rope_head_dim",
    "sliding_window_tokens", "sliding_window_layers",
    "moe_num_experts", "moe_experts_per_token", "moe_intermediate_size", "moe_shared_experts",
    "tied_embeddings", "native_precision", "proxy_note", "notes", "source",
)  # fmt: skip


class LLMModelSerializer(serializers.ModelSerializer):
    aliases = AliasesField(required=False)

    class Meta:
        model = LLMModel
        fields = ("id", *MODEL_FIELDS, "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")

    def validate(self, attrs):
        _run_model_clean(LLMModel, self.instance, attrs)
        return attrs


class ModelImportSerializer(serializers.Serializer):
    config = serializers.JSONField(help_text="The contents of a Hugging Face config.json (an object).")
    key = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    source = serializers.CharField(required=False, allow_blank=True, default="")


class ModelImportResultSerializer(serializers.Serializer):
    model = LLMModelSerializer()
    warnings = serializers.ListField(child=serializers.CharField())


class PricePointSerializer(serializers.ModelSerializer):
    hardware = serializers.SlugRelatedField(slug_field="key", queryset=Hardware.objects.all())
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), allow_null=True, required=False)

    class Meta:
        model = PricePoint
        fields = (
            "id", "hardware", "provider", "region", "kind", "gpus_per_instance", "usd_per_instance_hour",
            "usd_per_gpu_hour", "as_of", "source", "catalog_default", "team", "created_at",
        )  # fmt: skip
        read_only_fields = ("id", "created_at")

    def validate(self, attrs):
        _run_model_clean(PricePoint, self.instance, attrs)
        return attrs


class HostedApiPriceSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(
        slug_field="key",
        queryset=LLMModel.objects.all(),
        help_text="Catalog key of the model with the same weights.",
    )

    class Meta:
        model = HostedApiPrice
        fields = (
            "id", "provider", "model", "api_model", "usd_per_million_input_tokens",
            "usd_per_million_output_tokens", "usd_per_million_cached_input_tokens", "precision", "notes",
            "as_of", "source", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = ("id", "created_at", "updated_at")

    def validate(self, attrs):
        _run_model_clean(HostedApiPrice, self.instance, attrs)
        return attrs


# --- Teams ------------------------------------------------------------------------------------------------


class TeamSerializer(serializers.ModelSerializer):
    my_role = serializers.CharField(read_only=True)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ("id", "name", "slug", "my_role", "member_count", "created_at")
        read_only_fields = ("id", "created_at")
        extra_kwargs = {"slug": {"required": False, "help_text": "Derived from the name when left out."}}


class MembershipSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.pk", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ("user_id", "username", "role", "created_at")
        read_only_fields = fields


class MembershipAddSerializer(serializers.Serializer):
    """An invitation by username; whether the user exists is not said (services.invitation_send)."""

    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class InvitationSentSerializer(serializers.Serializer):
    detail = serializers.CharField()


class InvitationSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team.pk", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True)
    team_slug = serializers.CharField(source="team.slug", read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = ("id", "team", "team_name", "team_slug", "role", "invited_by", "created_at")
        read_only_fields = fields


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


# --- Estimates and plans ----------------------------------------------------------------------------------


class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """The primary key of a row the requesting user can see (its queryset's `visible_to`): another team's id
    is "does not exist" here, as its URL is a 404 (no request, as while the schema is generated: none)."""

    def get_queryset(self):
        request = self.context.get("request")
        return self.queryset.none() if request is None else self.queryset.visible_to(request.user)


class AssumptionsSerializer(serializers.Serializer):
    """calculator.cost.CostAssumptions; omitted fields keep the engine's documented defaults."""

    lifetime_years = serializers.FloatField(min_value=0.1, max_value=50, required=False)
    usd_per_kwh = serializers.FloatField(min_value=0, max_value=10, required=False)
    pue = serializers.FloatField(min_value=1, max_value=5, required=False)
    power_utilization = serializers.FloatField(min_value=0, max_value=1, required=False)
    network_rtt_s = serializers.FloatField(min_value=0, max_value=10, required=False)
    edge_power_factor = serializers.FloatField(min_value=0.01, max_value=1, required=False)
    edge_memory_share = serializers.FloatField(min_value=0.01, max_value=1, required=False)


_BIG = 10**9


class EstimateInputSerializer(_StrictSerializer):
    """The engine's inputs (calculator.estimate). Types are checked here; ranges and cross-field rules
    (TP divides heads, TP x PP divides num_gpus, ...) by the engine, whose errors name the field."""

    model = serializers.CharField(max_length=200, help_text="Catalog key or alias, e.g. llama-3.1-8b")
    hardware = serializers.CharField(max_length=200, help_text="Catalog key or alias, e.g. h100-sxm-80gb")
    precision = serializers.CharField(max_length=32, required=False)
    kv_cache_precision = serializers.CharField(max_length=32, required=False, allow_null=True)
    framework = serializers.CharField(max_length=32, required=False)
    framework_version = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        help_text="The framework release, e.g. '0.5.4': picks its engine era (vLLM before 0.8 runs the V0 "
        "engine's calibration); default the newest era. The result names the era in inputs.framework_era.",
    )
    attention_data_parallel = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=4096,
        help_text="Attention data-parallel groups among the tensor-parallel GPUs (SGLang "
        "--enable-dp-attention, TensorRT-LLM enable_attention_dp): non-expert weights in every group, "
        "routed experts sharded over all GPUs, each sequence's KV cache in its group; must divide "
        "tensor_parallel. Default 1 (plain tensor parallelism).",
    )
    calibration = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        help_text="A team calibration's id (fitted on the team's own measurements: /api/v1/calibrations/) or "
        "'shipped'; default the team's default calibration, else the shipped one.",
    )
    num_gpus = serializers.IntegerField(
        required=False,
        allow_null=True,
        max_value=4096,
        help_text="All GPUs: tensor_parallel x pipeline_parallel x replicas (GPUs beyond one TP x PP group "
        "are data-parallel replicas).",
    )
    tensor_parallel = serializers.IntegerField(required=False, allow_null=True, max_value=4096)
    pipeline_parallel = serializers.IntegerField(required=False, max_value=4096)
    replicas = serializers.IntegerField(
        required=False, allow_null=True, max_value=4096, help_text="Data-parallel copies of TP x PP."
    )
    prompt_tokens = serializers.IntegerField(required=False, max_value=_BIG)
    output_tokens = serializers.IntegerField(required=False, max_value=_BIG)
    batch_size = serializers.IntegerField(required=False, max_value=_BIG)
    deployment_mode = serializers.CharField(max_length=16, required=False)
    requests_per_hour = serializers.FloatField(required=False, max_value=1e12)
    request_rate = serializers.FloatField(required=False, allow_null=True, max_value=1e9)
    concurrency = serializers.IntegerField(required=False, allow_null=True, max_value=_BIG)
    burst_requests = serializers.IntegerField(
        required=False,
        allow_null=True,
        max_value=_BIG,
        help_text="Online: this many requests sent at once (a benchmark's rate = inf run).",
    )
    output_length_cv = serializers.FloatField(
        required=False,
        max_value=1e9,
        help_text="Output-length spread for a burst: 0 fixed (default), 1 exponential (about ShareGPT).",
    )
    slo = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="Latency bounds for sizing, any of ttft_p50_ms, ttft_p99_ms, tpot_p50_ms, tpot_p99_ms, "
        "e2e_p99_s (checked by the engine; errors name e.g. slo.ttft_p99_ms).",
    )
    peak_to_mean = serializers.FloatField(
        required=False, allow_null=True, max_value=1e6, help_text="Peak rate / mean rate (>= 1) to size for."
    )
    peak_requests_per_s = serializers.FloatField(
        required=False, allow_null=True, max_value=1e9, help_text="The peak rate to size for (requests/s)."
    )
    max_utilization = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Plan no replica above this fraction of its saturation rate, in (0, 1]; default 0.9.",
    )
    assumptions = AssumptionsSerializer(required=False)

    def validate_model(self, value: str) -> str:
        if value.lstrip().startswith("{"):
            raise serializers.ValidationError(
                "give a catalog name; import a config.json with POST /api/v1/models/import/"
            )
        return value


class EstimateRequestSerializer(EstimateInputSerializer):
    team = serializers.IntegerField(
        required=False, allow_null=True, help_text="Apply this team's price overrides (members only)."
    )


class CostEstimateSerializer(serializers.Serializer):
    """The estimate's cost at its batch (calculator.estimate.CostEstimate; output only). Dollar figures are
    null when the catalog has no price (price_missing) or the configuration cannot run (blocked), never 0."""

    hourly_usd = serializers.FloatField(allow_null=True, help_text="every GPU of the deployment")
    energy_hourly_usd = serializers.FloatField(allow_null=True)
    monthly_usd = serializers.FloatField(allow_null=True, help_text="hourly x 730")
    cost_per_request_usd = serializers.FloatField(allow_null=True)
    power_cost_per_request_usd = serializers.FloatField(allow_null=True)
    cost_per_1k_tokens_usd = serializers.FloatField(
        allow_null=True, help_text="all device time over the OUTPUT tokens, per 1,000"
    )
    cost_per_million_tokens_usd = serializers.FloatField(
        allow_null=True,
        help_text="all device time over the OUTPUT tokens, per 1M (the score and comparisons rank by it)",
    )
    prefill_cost_per_million_input_tokens_usd = serializers.FloatField(
        allow_null=True,
        help_text="the prefill's share of a request's cost over its prompt tokens, per 1M (null: no prompt)",
    )
    decode_cost_per_million_output_tokens_usd = serializers.FloatField(
        allow_null=True,
        help_text="the decode's share of a request's cost over its output tokens, per 1M (null: no output)",
    )
    blended_cost_per_million_tokens_usd = serializers.FloatField(
        allow_null=True, help_text="all device time over prompt + output tokens, per 1M"
    )
    prefill_share = serializers.FloatField(
        allow_null=True, help_text="prefill_device_s / (prefill_device_s + decode_device_s)"
    )
    prefill_device_s = serializers.FloatField(allow_null=True, help_text="the batch's prefill")
    decode_device_s = serializers.FloatField(
        allow_null=True, help_text="the batch's decode steps: (output - 1) x TPOT"
    )
    replicas = serializers.IntegerField()
    gpus = serializers.IntegerField()
    price_missing = serializers.BooleanField()
    blocked = serializers.BooleanField()
    price_source = serializers.CharField()


class EstimateResultSerializer(serializers.Serializer):
    """The engine's result (calculator.estimate.Estimate.to_dict; output only)."""

    inputs = serializers.DictField(help_text="the resolved deployment")
    memory = serializers.DictField(help_text="bytes per device")
    performance = serializers.DictField(help_text="at the batch asked (seconds, tokens/s)")
    max_throughput = serializers.DictField(help_text="at the largest batch that fits")
    online = serializers.DictField(
        allow_null=True, help_text="online serving when a rate, a concurrency or a burst is given"
    )
    cost = CostEstimateSerializer()
    blockers = serializers.ListField(child=serializers.DictField(), help_text="{code, message}")
    warnings = serializers.ListField(child=serializers.DictField(), help_text="{code, message}")
    performance_score = serializers.FloatField()
    recommendations = serializers.ListField(child=serializers.DictField())
    error_bands = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="cross-validated median error per metric"
    )
    calibrated = serializers.BooleanField()
    parameter_sources = serializers.DictField(child=serializers.CharField())
    assumptions = serializers.DictField()
    engine_version = serializers.CharField()
    sizing = serializers.DictField(
        required=False,
        help_text=(
            "with a traffic: replicas, GPUs and cost within the SLO, including the same per-token split at "
            "each replica's operating point (prefill_share, prefill_cost_per_million_input_tokens_usd, "
            "decode_cost_per_million_output_tokens_usd, blended_cost_per_million_tokens_usd)"
        ),
    )


class EstimateResponseSerializer(serializers.Serializer):
    """POST /api/v1/estimate/ (output only)."""

    inputs = serializers.DictField(help_text="the canonical inputs (names resolved to catalog keys)")
    result = EstimateResultSerializer()
    catalog = serializers.DictField(help_text="the catalog rows, price and calibration the result used")


class ExportSerializer(serializers.Serializer):
    """POST /api/v1/export/: the configuration as something to deploy (output only)."""

    command = serializers.CharField(help_text="The framework's launch command, shell-quoted.")
    argv = serializers.ListField(child=serializers.CharField(), help_text="The same command as arguments.")
    kubernetes = serializers.CharField(
        help_text="YAML: a Deployment and a Service (nvidia.com/gpu = TP x PP)."
    )
    compose = serializers.CharField(help_text="YAML: a docker-compose service.")
    replicas = serializers.IntegerField(
        help_text="The sizing's replicas when a traffic is given, else the input's."
    )
    gpus = serializers.IntegerField(help_text="replicas x tensor_parallel x pipeline_parallel.")
    gpus_per_replica = serializers.IntegerField()
    context_tokens = serializers.IntegerField(help_text="Context each sequence may use (the estimate's).")
    max_sequences = serializers.IntegerField(help_text="Concurrent sequences (the estimate's max batch).")
    notes = serializers.ListField(child=serializers.CharField(), help_text="What to check before deploying.")


class PlanVersionSummarySerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    summary = serializers.SerializerMethodField()

    class Meta:
        model = PlanVersion
        fields = ("number", "inputs", "summary", "engine_version", "created_by", "created_at")
        read_only_fields = fields

    def get_summary(self, version: PlanVersion) -> dict[str, Any]:
        return result_summary(version.result)


class PlanVersionSerializer(PlanVersionSummarySerializer):
    class Meta:
        model = PlanVersion
        fields = (
            "number", "inputs", "summary", "result", "catalog_snapshot", "engine_version", "created_by",
            "created_at",
        )  # fmt: skip
        read_only_fields = fields


def result_summary(result: dict[str, Any] | None) -> dict[str, Any]:
    """A few headline figures of a stored result (for lists)."""
    if not result:
        return {}
    memory, performance, cost = (
        result.get("memory", {}),
        result.get("performance", {}),
        result.get("cost", {}),
    )
    return {
        "feasible": not result.get("blockers"),
        "memory_total_bytes": memory.get("total_bytes"),
        "fits": memory.get("fits"),
        "tpot_s": performance.get("tpot_s"),
        "ttft_s": performance.get("ttft_s"),
        "output_tokens_per_s": performance.get("output_tokens_per_s"),
        "hourly_usd": cost.get("hourly_usd"),
        "cost_per_million_tokens_usd": cost.get("cost_per_million_tokens_usd"),
    }


class PlanSerializer(serializers.ModelSerializer):
    """Output of list and detail: the plan and its current version's inputs and headline figures."""

    owner = serializers.CharField(source="owner.username", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True)
    current_version = serializers.IntegerField(source="current_version.number", read_only=True, default=None)
    inputs = serializers.JSONField(source="current_version.inputs", read_only=True, default=None)
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = (
            "id", "name", "description", "team", "team_name", "owner", "visibility", "current_version",
            "inputs", "summary", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields

    def get_summary(self, plan: Plan) -> dict[str, Any]:
        return result_summary(plan.current_version.result if plan.current_version else None)


class PlanDetailSerializer(PlanSerializer):
    result = serializers.JSONField(source="current_version.result", read_only=True, default=None)

    class Meta(PlanSerializer.Meta):
        fields = (*PlanSerializer.Meta.fields, "result")
        read_only_fields = fields


class PlanCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    team = VisibleRelatedField(queryset=Team.objects.all())
    visibility = serializers.ChoiceField(choices=Plan.Visibility.choices, default=Plan.Visibility.TEAM)
    inputs = EstimateInputSerializer()


class PlanUpdateSerializer(serializers.Serializer):
    """PATCH/PUT: inputs given here are merged over the current version's inputs (then validated)."""

    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Plan.Visibility.choices, required=False)
    inputs = serializers.DictField(required=False)

    def validate_inputs(self, value: dict[str, Any]) -> dict[str, Any]:
        plan: Plan = self.instance
        current = dict(plan.current_version.inputs) if plan.current_version else {}
        merged = {**current, **value}
        inner = EstimateInputSerializer(data=merged)
        inner.is_valid(raise_exception=True)
        return inner.validated_data


class DiffQuerySerializer(serializers.Serializer):
    a = serializers.IntegerField(min_value=1)
    b = serializers.IntegerField(min_value=1)


# --- Comparisons ------------------------------------------------------------------------------------------


def _only_fields(value: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
    return value


class ComparisonOptionsSerializer(_StrictSerializer):
    """What a comparison varies and assumes. Names and values are checked by the engine
    (calculator.planning.resolve_spec), whose errors name the unknown names or the grid size."""

    grid = serializers.DictField(
        help_text='Lists (or ["*"] for the whole catalog) of models, hardware, precisions, frameworks, '
        'deployment_modes; tensor_parallel, pipeline_parallel, num_gpus, batch_sizes (or "auto"); '
        'framework_versions {framework: release} runs that release\'s engine era (e.g. {"vllm": "0.5.4"}).'
    )
    workload = serializers.DictField(
        required=False,
        default=dict,
        help_text="prompt_tokens, output_tokens, requests_per_hour (or requests_per_s), peak_to_mean",
    )
    constraints = serializers.DictField(
        required=False,
        default=dict,
        help_text="max_ttft_ms, max_tpot_ms, max_monthly_cost_usd, min_output_tokens_per_s; "
        "slo {ttft_p50_ms, ttft_p99_ms, tpot_p50_ms, tpot_p99_ms, e2e_p99_s}, max_total_gpus (a GPU budget), "
        "max_utilization: any of these sizes each configuration to the load it would carry (replicas, "
        "operating point)",
    )
    objective = serializers.ChoiceField(choices=OBJECTIVES, default="cost")
    top_k = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    calibration = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        help_text="A team calibration's id or 'shipped'; default the team's default, else the shipped one.",
    )

    def validate_grid(self, value):
        return _only_fields(value, comparisons.GRID_FIELDS)

    def validate_workload(self, value):
        return _only_fields(value, comparisons.WORKLOAD_FIELDS)

    def validate_constraints(self, value):
        return _only_fields(value, comparisons.CONSTRAINT_FIELDS + comparisons.LOAD_FIELDS)


class ComparisonCreateSerializer(ComparisonOptionsSerializer):
    name = serializers.CharField(max_length=200)
    team = VisibleRelatedField(queryset=Team.objects.all())


class PlanRecomputeSerializer(_StrictSerializer):
    calibration = serializers.CharField(
        max_length=32,
        required=False,
        help_text="Switch the calibration: a team calibration's id or 'shipped' (default: keep it).",
    )


class PlanCompareSerializer(ComparisonOptionsSerializer):
    """Optional overrides of the grid built around the plan (every field may be left out)."""

    name = serializers.CharField(max_length=200, required=False)
    grid = serializers.DictField(required=False, default=dict)
    objective = serializers.ChoiceField(choices=OBJECTIVES, required=False)
    top_k = serializers.IntegerField(min_value=1, max_value=1000, required=False)


class ComparisonAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.CharField()


def _seconds(start, end) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


class ComparisonSerializer(serializers.ModelSerializer):
    """List output: identity, status and progress."""

    team_name = serializers.CharField(source="team.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    progress = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="comparison-detail")

    class Meta:
        model = ComparisonJob
        fields = (
            "id", "url", "name", "team", "team_name", "plan", "created_by", "status", "configurations_total",
            "configurations_evaluated", "progress", "created_at", "started_at", "finished_at",
        )  # fmt: skip
        read_only_fields = fields

    def get_progress(self, job: ComparisonJob) -> float:
        return (
            round(job.configurations_evaluated / job.configurations_total, 4)
            if job.configurations_total
            else 1.0
        )


class ComparisonDetailSerializer(ComparisonSerializer):
    """Detail output: also the inputs, timings, error, attempts and the summary of a finished job."""

    results_url = serializers.SerializerMethodField()
    chunks = serializers.SerializerMethodField()
    timings = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    calibration = serializers.SerializerMethodField()

    class Meta(ComparisonSerializer.Meta):
        fields = (
            *ComparisonSerializer.Meta.fields, "results_url", "request", "spec", "inputs_hash",
            "engine_version", "calibration", "chunks", "attempts", "timings", "error", "summary",
        )  # fmt: skip
        read_only_fields = fields

    def get_calibration(self, job: ComparisonJob) -> dict[str, Any]:
        """The calibration the job was evaluated on, as frozen at submission."""
        frozen = (job.catalog_snapshot or {}).get("calibration") or {}
        return {"id": frozen.get("id"), "name": frozen.get("name", "shipped")}

    def get_results_url(self, job: ComparisonJob) -> str:
        request = self.context.get("request")
        path = f"/api/v1/comparisons/{job.pk}/results/"
        return request.build_absolute_uri(path) if request is not None else path

    def get_chunks(self, job: ComparisonJob) -> dict[str, int]:
        return {"total": job.chunks_total, "done": job.chunks_done}

    def get_timings(self, job: ComparisonJob) -> dict[str, Any]:
        return {
            "created": job.created_at,
            "started": job.started_at,
            "finished": job.finished_at,
            "heartbeat": job.heartbeat_at,
            "queued_seconds": _seconds(job.created_at, job.started_at),
            "running_seconds": _seconds(job.started_at, job.finished_at),
            "seconds": _seconds(job.created_at, job.finished_at),
        }

    def get_error(self, job: ComparisonJob) -> dict[str, str] | None:
        if not job.error_code:
            return None
        return {"code": job.error_code, "message": job.error_message}


RESULT_ROW_FIELDS = (
    "rank", "key", "model", "hardware", "precision", "framework", "tensor_parallel", "pipeline_parallel",
    "num_gpus", "requested_batch_size", "batch_size", "deployment_mode", "ttft_ms", "tpot_ms",
    "output_tokens_per_s", "cost_per_million_tokens_usd", "prefill_cost_per_million_input_tokens_usd",
    "decode_cost_per_million_output_tokens_usd", "blended_cost_per_million_tokens_usd", "monthly_cost_usd",
    "memory_utilization", "score", "replicas", "output_tokens_per_s_per_gpu", "ttft_p99_ms", "tpot_p99_ms",
    "utilization", "binding_constraint", "feasible", "is_top", "is_pareto", "is_best_for_hardware",
    "is_best_for_model", "best_for",
)  # fmt: skip


class ComparisonResultRowSerializer(serializers.ModelSerializer):
    """A stored configuration; requested_batch_size 0 means "auto" (batch_size is the one chosen)."""

    class Meta:
        model = ComparisonResultRow
        fields = RESULT_ROW_FIELDS
        read_only_fields = fields


# --- Capacity plans ---------------------------------------------------------------------------------------


class _OneOrMany(serializers.ListField):
    """A list, or a single value standing for a list of one (as the engine accepts)."""

    def to_internal_value(self, data):
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            data = [data]
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            # DRF keys item errors by index; the field gets a flat list of messages like any other.
            if isinstance(error.detail, dict):
                raise serializers.ValidationError(
                    [f"item {i}: {m}" for i, ms in error.detail.items() for m in ms]
                ) from None
            raise


class CapacityRequestSerializer(_StrictSerializer):
    """A capacity question (calculator.planning.capacity.resolve_capacity_request). Types are checked here;
    names, ranges and combinations by the engine, whose errors name the field."""

    model = serializers.CharField(max_length=200, required=False, help_text="One model (or use models)")
    models = _OneOrMany(child=serializers.CharField(max_length=200), required=False, max_length=20)
    calibration = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        help_text="A team calibration's id or 'shipped'; default the team's default, else the shipped one.",
    )
    hardware = _OneOrMany(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=500,
        help_text='Catalog keys or aliases; "*" (default) = every hardware entry',
    )
    precisions = _OneOrMany(
        child=serializers.CharField(max_length=32), required=False, help_text='default "*" = all'
    )
    frameworks = _OneOrMany(
        child=serializers.CharField(max_length=32), required=False, help_text='default "*" = all'
    )
    tensor_parallel = _OneOrMany(
        child=serializers.IntegerField(min_value=1, max_value=1024),
        required=False,
        max_length=16,
        help_text="default [1, 2, 4, 8]",
    )
    pipeline_parallel = _OneOrMany(
        child=serializers.IntegerField(min_value=1, max_value=1024),
        required=False,
        max_length=16,
        help_text="default [1]",
    )
    prompt_tokens = serializers.IntegerField(required=False, min_value=1, max_value=_BIG)
    output_tokens = serializers.IntegerField(required=False, min_value=1, max_value=_BIG)
    requests_per_s = serializers.FloatField(required=False, allow_null=True, max_value=1e9)
    requests_per_hour = serializers.FloatField(required=False, allow_null=True, max_value=1e12)
    peak_to_mean = serializers.FloatField(required=False, allow_null=True, max_value=1e6)
    peak_requests_per_s = serializers.FloatField(required=False, allow_null=True, max_value=1e9)
    slo = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="any of ttft_p50_ms, ttft_p99_ms, tpot_p50_ms, tpot_p99_ms, e2e_p99_s",
    )
    deployment_mode = serializers.CharField(max_length=16, required=False)
    max_gpus_per_replica = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_total_gpus = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="GPU budget; without a traffic each layout fills it (ranked by throughput)",
    )
    max_monthly_usd = serializers.FloatField(required=False, allow_null=True)
    max_utilization = serializers.FloatField(required=False, allow_null=True, help_text="in (0, 1]; 0.9")
    # A CharField checked by the engine: another "objective" enum would collide with the comparisons' one.
    objective = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        help_text=f"one of {', '.join(CAPACITY_OBJECTIVES)}; default cost with a traffic, throughput with a "
        "GPU budget alone",
    )
    top_k = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    team = serializers.IntegerField(
        required=False, allow_null=True, help_text="Apply this team's price overrides (members only)."
    )

    def validate(self, attrs):
        if not attrs.get("model") and not attrs.get("models"):
            raise serializers.ValidationError({"model": ["a model is required (model or models)"]})
        return attrs


class CapacityOptionSerializer(serializers.Serializer):
    """One ranked configuration, sized for the traffic (or filling the GPU budget). Costs are null where the
    catalog has no price for the hardware (price_missing), never 0."""

    rank = serializers.IntegerField()
    model = serializers.CharField()
    hardware = serializers.CharField()
    precision = serializers.CharField()
    framework = serializers.CharField()
    tensor_parallel = serializers.IntegerField()
    pipeline_parallel = serializers.IntegerField()
    replicas = serializers.IntegerField()
    gpus_per_replica = serializers.IntegerField()
    gpus = serializers.IntegerField()
    price_missing = serializers.BooleanField()
    hourly_usd = serializers.FloatField(allow_null=True)
    monthly_usd = serializers.FloatField(allow_null=True)
    cost_per_million_output_tokens_usd = serializers.FloatField(
        allow_null=True, help_text="all the replicas' cost over the output tokens served"
    )
    prefill_share = serializers.FloatField(
        allow_null=True, help_text="share of a request's device time in its prompt at the operating point"
    )
    prefill_cost_per_million_input_tokens_usd = serializers.FloatField(
        allow_null=True, help_text="the prompt's share of a request's cost over its prompt tokens, per 1M"
    )
    decode_cost_per_million_output_tokens_usd = serializers.FloatField(
        allow_null=True, help_text="the output tokens' share of a request's cost over them, per 1M"
    )
    blended_cost_per_million_tokens_usd = serializers.FloatField(
        allow_null=True, help_text="all the replicas' cost over prompt + output tokens, per 1M"
    )
    output_tokens_per_s = serializers.FloatField(allow_null=True)
    output_tokens_per_s_per_gpu = serializers.FloatField(allow_null=True)
    capacity_rps_per_replica = serializers.FloatField(allow_null=True)
    goodput_rps_per_replica = serializers.FloatField(allow_null=True)
    requests_per_s_per_replica = serializers.FloatField(allow_null=True)
    batch = serializers.FloatField(allow_null=True, help_text="requests in flight per replica")
    ttft_p50_ms = serializers.FloatField(allow_null=True)
    ttft_p99_ms = serializers.FloatField(allow_null=True)
    tpot_p50_ms = serializers.FloatField(allow_null=True)
    tpot_p99_ms = serializers.FloatField(allow_null=True)
    e2e_p99_s = serializers.FloatField(allow_null=True)
    utilization = serializers.FloatField(allow_null=True, help_text="offered rate / saturation rate")
    headroom = serializers.FloatField(allow_null=True)
    binding_constraint = serializers.CharField()
    binding_message = serializers.CharField()
    memory_utilization = serializers.FloatField(allow_null=True)


class CapacityClosestSerializer(serializers.Serializer):
    """When nothing meets the SLO: the configuration nearest to it and the bound it misses first."""

    model = serializers.CharField()
    hardware = serializers.CharField()
    precision = serializers.CharField()
    framework = serializers.CharField()
    tensor_parallel = serializers.IntegerField()
    pipeline_parallel = serializers.IntegerField()
    constraint = serializers.CharField(help_text="the SLO field, e.g. ttft_p99_ms")
    value = serializers.FloatField()
    limit = serializers.FloatField()
    ratio = serializers.FloatField(help_text="value / limit")
    message = serializers.CharField()


class BreakevenRequestSerializer(_StrictSerializer):
    """A break-even question (calculator.planning.breakeven.resolve_breakeven_request). Types are checked
    here; names, ranges and combinations by the engine, whose errors name the field."""

    model = serializers.CharField(max_length=200)
    prompt_tokens = serializers.IntegerField(required=False, min_value=1, max_value=_BIG)
    output_tokens = serializers.IntegerField(required=False, min_value=1, max_value=_BIG)
    requests_per_day = _OneOrMany(
        child=serializers.FloatField(min_value=1e-6, max_value=1e12),
        required=False,
        max_length=12,
        help_text="traffic levels, requests per day (default 1k, 10k, 100k, 1M)",
    )
    peak_to_mean = serializers.FloatField(required=False, min_value=1.0, max_value=1e6)
    max_utilization = serializers.FloatField(required=False, min_value=1e-6, max_value=1.0)
    slo = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="any of ttft_p50_ms, ttft_p99_ms, tpot_p50_ms, tpot_p99_ms, e2e_p99_s",
    )
    hardware = _OneOrMany(child=serializers.CharField(max_length=200), required=False, max_length=500)
    precisions = _OneOrMany(
        child=serializers.CharField(max_length=32),
        required=False,
        help_text='default bf16, fp16, fp8; "*" = all',
    )
    frameworks = _OneOrMany(child=serializers.CharField(max_length=32), required=False)
    options = _OneOrMany(
        child=serializers.ChoiceField(choices=OPTIONS),
        required=False,
        help_text="default: all; rent is the catalog's on-demand price, rent_spot / rent_reserved_1y / "
        "rent_reserved_3y / rent_capacity_block each accelerator's cheapest point of that kind",
    )
    providers = _OneOrMany(
        child=serializers.CharField(max_length=100), required=False, help_text="default: every listed API"
    )
    lifetime_years = serializers.FloatField(required=False, min_value=0.01, max_value=100)
    usd_per_kwh = serializers.FloatField(required=False, min_value=0.0, max_value=100)
    pue = serializers.FloatField(required=False, min_value=1.0, max_value=10)
    ops_usd_per_gpu_month = serializers.FloatField(required=False, min_value=0.0, max_value=1e7)
    max_price_age_days = serializers.IntegerField(required=False, min_value=1, max_value=36500)
    team = serializers.IntegerField(
        required=False, allow_null=True, help_text="price with this team's overrides"
    )


class BreakevenSerializer(serializers.Serializer):
    request = serializers.DictField(help_text="the request as the engine resolved it")
    prices = serializers.ListField(child=serializers.DictField(), help_text="hosted-API prices compared")
    levels = serializers.ListField(
        child=serializers.DictField(),
        help_text=(
            "at each traffic level asked, each option's monthly_usd, usd_per_request, usd_per_million_tokens "
            "(blended over prompt + output), usd_per_million_input_tokens and usd_per_million_output_tokens "
            "(an API's list prices; for rent and buy the cost per request split by each phase's device time)"
        ),
    )
    curve = serializers.ListField(child=serializers.DictField(), help_text="the same on a geometric grid")
    crossovers = serializers.ListField(
        child=serializers.DictField(),
        help_text="per API and option: lowest requests/day from which self-hosting stays no dearer",
    )
    notes = serializers.ListField(child=serializers.CharField())


class CapacityPlanSerializer(serializers.Serializer):
    calibration = serializers.CharField(
        help_text="the calibration the figures come from: shipped or team:<name>"
    )
    request = serializers.DictField(help_text="the request as the engine resolved it (names to keys)")
    evaluated = serializers.IntegerField(help_text="configurations considered")
    feasible = serializers.IntegerField(help_text="configurations meeting every requirement")
    rejected = serializers.DictField(child=serializers.IntegerField(), help_text="count by reason")
    options = CapacityOptionSerializer(many=True, help_text="best first, top_k at most")
    closest = CapacityClosestSerializer(allow_null=True, required=False)
    notes = serializers.ListField(child=serializers.CharField())
