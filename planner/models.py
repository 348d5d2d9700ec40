from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from calculator.prices import INSTANCE_PRICE_TOLERANCE_USD_PER_GPU


class WorkerHeartbeat(models.Model):
    """One row per Celery worker node, refreshed every few seconds while it runs (planner.heartbeat)."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname} (pid {self.pid}, last seen {self.last_seen_at:%Y-%m-%d %H:%M:%S})"


class TaskProbe(models.Model):
    """A row a worker fills in to prove that enqueue -> broker -> worker -> database works end to end."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    result = models.JSONField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"probe {self.pk} ({self.status})"


# --- Teams ------------------------------------------------------------------------------------------------


class Role(models.TextChoices):
    """Team roles, weakest first: viewers read, editors also create and edit plans, admins also delete
    plans and manage the team and its members."""

    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class TeamQuerySet(models.QuerySet):
    def visible_to(self, user) -> TeamQuerySet:
        """Teams the user belongs to (anonymous users and staff without a membership see none)."""
        if not user.is_authenticated:
            return self.none()
        # A subquery, not a join: annotations over memberships (member counts) must see every member.
        return self.filter(pk__in=Membership.objects.filter(user=user).values("team_id"))


class TeamScopedQuerySet(models.QuerySet):
    def visible_to(self, user) -> TeamScopedQuerySet:
        """Rows of the user's teams (another team's reads as a 404); anonymous users see none."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(team_id__in=Membership.objects.filter(user=user).values("team_id"))


class Team(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    default_calibration = models.ForeignKey(
        "TeamCalibration", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Used by the team's estimates when they name none (empty: the shipped one).",
    )  # fmt: skip

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]
        ordering = ["team_id", "user_id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invitation(models.Model):
    """A team admin's offer of a role to a user, pending until that user accepts or declines it. Adding a
    member goes through one so that the admin's request answers the same whether or not the username exists
    (the invitee alone sees it)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="invitation_unique_user_team")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} invited to {self.team} ({self.role})"


# --- Catalog ----------------------------------------------------------------------------------------------

CATALOG_KEY_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9.\-]*$",
    "Keys are lowercase letters, digits, '.' and '-'.",
)


def _aliases_valid(value) -> None:
    if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
        raise ValidationError("aliases must be a list of non-empty strings.")


class Hardware(models.Model):
    """One accelerator, in the engine's SI units (bytes, bytes/s, FLOP/s, seconds; calculator.HardwareSpec).

    cloud_usd_per_hour is the fallback price: the latest on-demand PricePoint (a team's own first) wins.
    """

    class Kind(models.TextChoices):
        DATACENTER_GPU = "datacenter_gpu", "Datacenter GPU"
        CONSUMER_GPU = "consumer_gpu", "Consumer GPU"
        APPLE = "apple", "Apple silicon"
        CPU = "cpu", "CPU"
        EDGE = "edge", "Edge device"

    key = models.CharField(max_length=100, unique=True, validators=[CATALOG_KEY_VALIDATOR])
    name = models.CharField(max_length=200)
    vendor = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    aliases = models.JSONField(default=list, blank=True, validators=[_aliases_valid])
    memory_bytes = models.FloatField(validators=[MinValueValidator(1.0)])
    usable_memory_bytes = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    memory_bandwidth_bytes_per_s = models.FloatField(validators=[MinValueValidator(1.0)])
    fp32_flops = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    tf32_dense_flops = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    fp16_dense_flops = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    bf16_dense_flops = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    fp8_dense_flops = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    fp4_dense_flops = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    int8_dense_ops = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    int4_dense_ops = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    tdp_watts = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    interconnect_bytes_per_s = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    interconnect_latency_s = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    cloud_usd_per_hour = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    purchase_usd = models.FloatField(default=0.0, validators=[MinValueValidator(0.0)])
    notes = models.TextField(blank=True)
    source = models.TextField(help_text="Where the figures come from (URLs, documents).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "hardware"

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def clean(self) -> None:
        errors = {}
        if self.usable_memory_bytes and self.memory_bytes and self.usable_memory_bytes > self.memory_bytes:
            errors["usable_memory_bytes"] = "must not exceed memory_bytes."
        if not (self.source or "").strip():
            errors["source"] = "every catalog row needs a source."
        if errors:
            raise ValidationError(errors)


class LLMModel(models.Model):
    """A transformer decoder as the engine sees it (calculator.ModelSpec); parameters are exact counts."""

    class Attention(models.TextChoices):
        MHA = "mha", "Multi-head"
        GQA = "gqa", "Grouped-query"
        MQA = "mqa", "Multi-query"
        MLA = "mla", "Multi-head latent"

    key = models.CharField(max_length=100, unique=True, validators=[CATALOG_KEY_VALIDATOR])
    name = models.CharField(max_length=200)
    family = models.CharField(max_length=100, blank=True)
    aliases = models.JSONField(default=list, blank=True, validators=[_aliases_valid])
    params_total = models.PositiveBigIntegerField(validators=[MinValueValidator(1)])
    params_active = models.PositiveBigIntegerField(validators=[MinValueValidator(1)])
    params_embedding = models.PositiveBigIntegerField(default=0)
    params_routed_experts = models.PositiveBigIntegerField(default=0)
    params_vision = models.PositiveBigIntegerField(default=0)
    num_layers = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    hidden_size = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    num_attention_heads = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    num_kv_heads = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    head_dim = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    intermediate_size = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    vocab_size = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    max_context_tokens = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    attention = models.CharField(max_length=8, choices=Attention.choices, default=Attention.GQA)
    kv_lora_rank = models.PositiveIntegerField(default=0)
    qk_rope_head_dim = models.PositiveIntegerField(default=0)
    sliding_window_tokens = models.PositiveIntegerField(default=0)
    sliding_window_layers = models.PositiveIntegerField(default=0)
    moe_num_experts = models.PositiveIntegerField(default=0)
    moe_experts_per_token = models.PositiveIntegerField(default=0)
    moe_intermediate_size = models.PositiveIntegerField(default=0)
    moe_shared_experts = models.PositiveIntegerField(default=0)
    tied_embeddings = models.BooleanField(default=False)
    native_precision = models.CharField(max_length=32, default="bf16")
    proxy_note = models.TextField(
        blank=True,
        default="",
        help_text="Only for a row that stands in for a model whose architecture is unpublished: why "
        "(every estimate of it shows this as a warning).",
    )
    notes = models.TextField(blank=True)
    source = models.TextField(help_text="Where the figures come from (URLs, config.json, papers).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = "LLM model"

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def clean(self) -> None:
        """The same consistency rules the engine's CSV loader applies (calculator.catalog._model)."""
        errors = {}
        if self.params_total and self.params_active and self.params_active > self.params_total:
            errors["params_active"] = f"{self.params_active} exceeds params_total {self.params_total}."
        if self.num_attention_heads and self.num_kv_heads and self.num_attention_heads % self.num_kv_heads:
            errors["num_kv_heads"] = (
                f"num_attention_heads {self.num_attention_heads} is not divisible by "
                f"num_kv_heads {self.num_kv_heads}."
            )
        if self.moe_num_experts and not 0 < (self.moe_experts_per_token or 0) <= self.moe_num_experts:
            errors["moe_experts_per_token"] = f"must be in 1..{self.moe_num_experts}."
        if self.attention == self.Attention.MLA and not self.kv_lora_rank:
            errors["kv_lora_rank"] = "required for mla attention."
        if self.num_layers and (self.sliding_window_layers or 0) > self.num_layers:
            errors["sliding_window_layers"] = f"exceeds num_layers {self.num_layers}."
        if not (self.source or "").strip():
            errors["source"] = "every catalog row needs a source."
        if errors:
            raise ValidationError(errors)


class PricePointQuerySet(models.QuerySet):
    def visible_to(self, user) -> PricePointQuerySet:
        """Public prices, plus the overrides of the user's own teams."""
        if not user.is_authenticated:
            return self.none()
        member_teams = Membership.objects.filter(user=user).values("team_id")
        return self.filter(Q(team__isnull=True) | Q(team_id__in=member_teams))


class PricePoint(models.Model):
    """A rental price for one GPU of a hardware row, and for the instance the provider rents it in; with a
    team, that team's override of public prices."""

    class Kind(models.TextChoices):
        ON_DEMAND = "on_demand", "On demand"
        SPOT = "spot", "Spot"
        RESERVED_1Y = "reserved_1y", "Reserved, 1 year"
        RESERVED_3Y = "reserved_3y", "Reserved, 3 years"
        CAPACITY_BLOCK = "capacity_block", "Capacity block (days to weeks, booked ahead)"

    hardware = models.ForeignKey(Hardware, on_delete=models.CASCADE, related_name="price_points")
    provider = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)
    kind = models.CharField(
        max_length=16, choices=Kind.choices, default=Kind.ON_DEMAND,
        help_text="A reserved term bills every hour of the term whether the GPUs are used or not.",
    )  # fmt: skip
    gpus_per_instance = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)],
        help_text="GPUs in the smallest instance rented at this price (1 where single GPUs are rented).",
    )  # fmt: skip
    usd_per_instance_hour = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0)],
        help_text="The instance's hourly price; empty means GPUs per instance x $/GPU-hour.",
    )  # fmt: skip
    usd_per_gpu_hour = models.FloatField(validators=[MinValueValidator(0.0)])
    as_of = models.DateField()
    source = models.TextField()
    catalog_default = models.BooleanField(
        default=True,
        help_text="Estimates bill the latest public on-demand point marked so; unmarked public points (the "
        "other providers of calculator/data/gpu_prices.csv) are there to compare.",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="price_points",
        help_text="Set for a team's own negotiated price; empty for a public price.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PricePointQuerySet.as_manager()

    class Meta:
        ordering = ["hardware_id", "-as_of", "id"]
        indexes = [models.Index(fields=["hardware", "kind", "-as_of"], name="pricepoint_lookup")]

    def __str__(self) -> str:
        scope = f" for {self.team}" if self.team_id else ""
        return f"{self.hardware.key} {self.provider} {self.kind} ${self.usd_per_gpu_hour}/h{scope}"

    @property
    def instance_usd_per_hour(self) -> float:
        """The instance's hourly price: usd_per_instance_hour, or GPUs x $/GPU-hour when empty."""
        if self.usd_per_instance_hour is not None:
            return self.usd_per_instance_hour
        return self.usd_per_gpu_hour * self.gpus_per_instance

    def clean(self) -> None:
        """An instance price must be $/GPU-hour x GPUs per instance, to a cent per GPU (as
        calculator.prices checks the price file)."""
        super().clean()
        gpus, instance = self.gpus_per_instance or 1, self.usd_per_instance_hour
        if instance is None or self.usd_per_gpu_hour is None:
            return
        if abs(instance - self.usd_per_gpu_hour * gpus) > INSTANCE_PRICE_TOLERANCE_USD_PER_GPU * gpus + 1e-9:
            raise ValidationError(
                {
                    "usd_per_instance_hour": (
                        f"{instance:g} is not usd_per_gpu_hour {self.usd_per_gpu_hour:g} x gpus_per_instance "
                        f"{gpus} (= {self.usd_per_gpu_hour * gpus:g}, to a cent per GPU)."
                    )
                }
            )


def _finite(value: float) -> None:
    if not math.isfinite(value):
        raise ValidationError(f"must be a finite number, got {value!r}.")


class HostedApiPrice(models.Model):
    """A hosted API's list price per 1M tokens for one model, as the provider lists it on a date, with the
    page it was read from (calculator/data/hosted_api_prices.csv seeds these rows; the break-even compares
    against the latest row per provider and catalog model, planner.specs.hosted_prices)."""

    provider = models.CharField(max_length=100)
    model = models.ForeignKey(
        LLMModel, on_delete=models.CASCADE, related_name="hosted_prices",
        help_text="The catalog model with the same weights the provider serves.",
    )  # fmt: skip
    api_model = models.CharField(
        max_length=200, help_text="The provider's name for the model, as they list it."
    )
    usd_per_million_input_tokens = models.FloatField(validators=[MinValueValidator(0.0), _finite])
    usd_per_million_output_tokens = models.FloatField(validators=[MinValueValidator(0.0), _finite])
    usd_per_million_cached_input_tokens = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), _finite],
        help_text="Empty where the provider lists no cached-input price.",
    )  # fmt: skip
    precision = models.CharField(
        max_length=32, blank=True, help_text="The weights' precision as served, where the provider says."
    )
    notes = models.TextField(blank=True)
    as_of = models.DateField(help_text="When the price was read.")
    source = models.TextField(help_text="The page the price was read from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_id", "provider", "-as_of", "id"]
        verbose_name = "hosted API price"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "api_model", "as_of"], name="hostedapiprice_unique_listing"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.provider} {self.api_model} ${self.usd_per_million_input_tokens:g} / "
            f"${self.usd_per_million_output_tokens:g} per 1M ({self.as_of})"
        )

    def clean(self) -> None:
        if not (self.source or "").strip():
            raise ValidationError({"source": "every price needs a source."})


class CatalogRevision(models.Model):
    """The catalog's revision: one row (id 1) that database triggers (migration 0009) rewrite in the same
    transaction as any insert, update, delete or truncate of Hardware, LLMModel or PricePoint rows, however
    the write is made (save(), QuerySet.update(), bulk_create, the admin, raw SQL). Each process caches the
    catalog it built under `token` (planner.specs.catalog_from_db) and rebuilds it when the token differs,
    so an edit counts in the next estimate. `token` is random per write, never reused, so a rolled-back
    write cannot make an old cached catalog look current; `counter` counts writes (for people)."""

    counter = models.BigIntegerField(default=0)
    token = models.CharField(max_length=32, blank=True)

    def __str__(self) -> str:
        return f"catalog revision {self.counter}"


# --- Plans ------------------------------------------------------------------------------------------------


class PlanQuerySet(TeamScopedQuerySet):
    def visible_to(self, user) -> PlanQuerySet:
        """Team plans of the user's teams, plus the user's own private plans in those teams."""
        if not user.is_authenticated:
            return self.none()
        return super().visible_to(user).filter(Q(visibility=Plan.Visibility.TEAM) | Q(owner=user))


class Plan(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private (owner only)"
        TEAM = "team", "Team"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="plans")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="plans")
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.TEAM)
    current_version = models.ForeignKey(
        "PlanVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.name


class PlanVersion(models.Model):
    """An immutable estimate: the inputs, the result, and every catalog value the engine used."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    inputs = models.JSONField()
    result = models.JSONField()
    catalog_snapshot = models.JSONField()
    engine_version = models.CharField(max_length=32)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="planversion_unique_number")]
        ordering = ["plan_id", "number"]

    def __str__(self) -> str:
        return f"{self.plan} v{self.number}"


# --- Comparisons ------------------------------------------------------------------------------------------


class ComparisonJobQuerySet(TeamScopedQuerySet):
    def visible_to(self, user) -> ComparisonJobQuerySet:
        """Jobs of the user's teams (another team's job reads as a 404); a job made from a private plan
        carries that plan's name and inputs, so it is its owner's alone, like the plan."""
        if not user.is_authenticated:
            return self.none()
        mine = super().visible_to(user)
        return mine.exclude(Q(plan__visibility=Plan.Visibility.PRIVATE) & ~Q(plan__owner=user))


class ComparisonJob(models.Model):
    """A bulk comparison (calculator.planning) run by Celery workers; this row is the truth about it.

    Inputs are frozen at submission: `spec` is the validated ComparisonSpec, `catalog_snapshot` the catalog
    rows (and prices) the engine uses, `inputs_hash` a sha256 of both. Progress is the sum of the finished
    chunks' configurations; `summary` is written by the finaliser together with the result rows.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
    ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})

    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="comparisons")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.SET_NULL, related_name="comparisons",
        help_text="The saved plan whose alternatives this job compares, if any.",
    )  # fmt: skip
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    request = models.JSONField(help_text="The request as submitted.")
    spec = models.JSONField(help_text="calculator.planning.ComparisonSpec.to_dict()")
    spec_digest = models.CharField(max_length=16)
    catalog_snapshot = models.JSONField()
    inputs_hash = models.CharField(max_length=64, db_index=True)
    engine_version = models.CharField(max_length=32)
    configurations_total = models.PositiveBigIntegerField()
    configurations_evaluated = models.PositiveBigIntegerField(default=0)
    chunks_total = models.PositiveIntegerField()
    chunks_done = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Most claims of any one chunk (1 when nothing had to be retried)."
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    summary = models.JSONField(null=True, blank=True)

    objects = ComparisonJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"], name="comparison_team_created")]

    def __str__(self) -> str:
        return f"comparison {self.pk} {self.name!r} ({self.status})"


class ComparisonChunk(models.Model):
    """One slice of a job's grid (calculator.planning.ChunkSpec) and, once done, its PartialResult."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    job = models.ForeignKey(ComparisonJob, on_delete=models.CASCADE, related_name="chunks")
    chunk_index = models.PositiveIntegerField()
    bounds = models.JSONField(help_text="ChunkSpec.to_dict()")
    configurations = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=255, blank=True, help_text="Worker node that holds the claim.")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    partial = models.JSONField(null=True, blank=True, help_text="PartialResult.to_dict()")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "chunk_index"], name="comparisonchunk_unique_index")
        ]
        indexes = [models.Index(fields=["status", "job"], name="comparisonchunk_status")]
        ordering = ["job_id", "chunk_index"]

    def __str__(self) -> str:
        return f"chunk {self.chunk_index} of job {self.job_id} ({self.status})"


class ComparisonResultRow(models.Model):
    """A stored configuration of a finished job: in the top_k (rank set), on the Pareto front, best for a
    hardware entry, a model or an objective, or the closest to a constraint nothing meets (feasible False).
    Infeasible configurations are only counted (ComparisonJob.summary), never stored one by one."""

    job = models.ForeignKey(ComparisonJob, on_delete=models.CASCADE, related_name="result_rows")
    key = models.CharField(max_length=400)
    rank = models.PositiveIntegerField(null=True, blank=True, help_text="1..top_k; empty outside the top.")
    order_value = models.FloatField(
        null=True, blank=True, help_text="The objective's rank value (lower is better); empty if unranked."
    )
    model = models.CharField(max_length=100)
    hardware = models.CharField(max_length=100)
    precision = models.CharField(max_length=32)
    framework = models.CharField(max_length=32)
    tensor_parallel = models.PositiveIntegerField()
    pipeline_parallel = models.PositiveIntegerField()
    num_gpus = models.PositiveIntegerField()
    requested_batch_size = models.PositiveIntegerField(help_text="0 = auto")
    batch_size = models.PositiveIntegerField()
    deployment_mode = models.CharField(max_length=16)
    ttft_ms = models.FloatField()
    tpot_ms = models.FloatField()
    output_tokens_per_s = models.FloatField()
    cost_per_million_tokens_usd = models.FloatField(
        null=True, blank=True, help_text="All device time over the output tokens (ranked by); empty: unpriced"
    )
    prefill_cost_per_million_input_tokens_usd = models.FloatField(
        null=True, blank=True, help_text="The prefill's share of a request's cost over its prompt tokens."
    )
    decode_cost_per_million_output_tokens_usd = models.FloatField(
        null=True, blank=True, help_text="The decode's share of a request's cost over its output tokens."
    )
    blended_cost_per_million_tokens_usd = models.FloatField(
        null=True, blank=True, help_text="A request's cost over its prompt + output tokens."
    )
    monthly_cost_usd = models.FloatField(null=True, blank=True)
    memory_utilization = models.FloatField()
    score = models.FloatField(null=True, blank=True)
    replicas = models.PositiveIntegerField(
        default=1, help_text="Data-parallel replicas; num_gpus counts them all."
    )
    output_tokens_per_s_per_gpu = models.FloatField(default=0.0)
    ttft_p99_ms = models.FloatField(
        null=True, blank=True, help_text="Sized comparisons: at the load carried."
    )
    tpot_p99_ms = models.FloatField(null=True, blank=True)
    utilization = models.FloatField(null=True, blank=True, help_text="Share of one replica's capacity used.")
    binding_constraint = models.CharField(max_length=32, blank=True, default="")
    feasible = models.BooleanField(default=True)
    is_top = models.BooleanField(default=False)
    is_pareto = models.BooleanField(default=False)
    is_best_for_hardware = models.BooleanField(default=False)
    is_best_for_model = models.BooleanField(default=False)
    best_for = models.JSONField(default=list, blank=True, help_text="Objectives this row is the best for.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="comparisonresultrow_unique_key")]
        indexes = [models.Index(fields=["job", "order_value"], name="comparisonrow_order")]
        ordering = ["job_id", models.F("order_value").asc(nulls_last=True), "key"]

    def __str__(self) -> str:
        return f"{self.key} (job {self.job_id})"


# --- Measurements (a team's own benchmarks) ---------------------------------------------------------------

from planner.measurement_models import (  # noqa: E402, F401  (registers them)
    Measurement,
    MeasurementSet,
    TeamCalibration,
)
