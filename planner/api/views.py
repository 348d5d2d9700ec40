"""API views: thin. Reads come from selectors (scoped by user), writes go through services."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import filters, generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from calculator import resolve_deployment
from calculator.planning.export import export_deployment
from planner import selectors, specs
from planner.api import serializers as s
from planner.api.errors import error_body
from planner.api.permissions import (
    ComparisonPermission,
    IsStaffOrReadOnly,
    PlanPermission,
    TeamPermission,
)
from planner.api.renderers import CSVRenderer
from planner.filtersets import (
    ComparisonFilter,
    ComparisonResultFilter,
    HardwareFilter,
    HostedApiPriceFilter,
    LLMModelFilter,
    PlanFilter,
    PricePointFilter,
)
from planner.models import (
    ComparisonJob,
    ComparisonResultRow,
    HostedApiPrice,
    Invitation,
    PricePoint,
    Team,
)
from planner.services import catalog, comparisons, estimates, plans, teams

CATALOG_KEY_REGEX = r"[a-z0-9][a-z0-9.\-]*"


# --- Catalog ----------------------------------------------------------------------------------------------


class CatalogViewSet(viewsets.ModelViewSet):
    """Shared behaviour of catalog endpoints: staff writes are recorded in the admin's history."""

    permission_classes = (IsStaffOrReadOnly,)
    lookup_field = "key"
    lookup_value_regex = CATALOG_KEY_REGEX
    filter_backends = (
        django_filters.rest_framework.DjangoFilterBackend,
        filters.SearchFilter,
        filters.OrderingFilter,
    )

    def perform_create(self, serializer):
        serializer.instance = catalog.catalog_row_create(
            serializer.Meta.model, user=self.request.user, values=dict(serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = catalog.catalog_row_update(
            serializer.instance, user=self.request.user, values=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        catalog.catalog_row_delete(instance, user=self.request.user)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def duplicate(self, request, key=None):
        """Copy this row under a free key ("<key>-copy"); staff only."""
        copy = catalog.catalog_row_duplicate(self.get_object(), user=request.user)
        return Response(self.get_serializer(copy).data, status=status.HTTP_201_CREATED)


# duplicate answers 201 with the new row; the schema must say so (spectacular assumes 200 for actions).
@extend_schema_view(duplicate=extend_schema(responses={201: s.HardwareSerializer}))
class HardwareViewSet(CatalogViewSet):
    serializer_class = s.HardwareSerializer
    filterset_class = HardwareFilter
    search_fields = ("key", "name", "vendor")
    ordering_fields = (
        "key", "name", "vendor", "memory_bytes", "memory_bandwidth_bytes_per_s", "fp16_dense_flops",
        "bf16_dense_flops", "cloud_usd_per_hour", "updated_at",
    )  # fmt: skip
    ordering = ("key",)

    def get_queryset(self):
        return selectors.hardware_list()


@extend_schema_view(duplicate=extend_schema(responses={201: s.LLMModelSerializer}))
class LLMModelViewSet(CatalogViewSet):
    serializer_class = s.LLMModelSerializer
    filterset_class = LLMModelFilter
    search_fields = ("key", "name", "family")
    ordering_fields = (
        "key",
        "name",
        "family",
        "params_total",
        "params_active",
        "max_context_tokens",
        "updated_at",
    )
    ordering = ("key",)

    def get_queryset(self):
        return selectors.model_list()

    @extend_schema(request=s.ModelImportSerializer, responses={201: s.ModelImportResultSerializer})
    @action(detail=False, methods=["post"], url_path="import", serializer_class=s.ModelImportSerializer)
    def import_config(self, request):
        """Create a model from a pasted Hugging Face config.json; staff only."""
        form = s.ModelImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        row, warnings = catalog.model_import_config(user=request.user, **form.validated_data)
        body = {"model": s.LLMModelSerializer(row).data, "warnings": warnings}
        return Response(body, status=status.HTTP_201_CREATED)


class PricePointViewSet(viewsets.ModelViewSet):
    """Public prices and the caller's teams' overrides; staff write."""

    permission_classes = (IsStaffOrReadOnly,)
    serializer_class = s.PricePointSerializer
    filterset_class = PricePointFilter
    filter_backends = (django_filters.rest_framework.DjangoFilterBackend, filters.OrderingFilter)
    ordering_fields = ("as_of", "usd_per_gpu_hour", "provider", "created_at")
    ordering = ("hardware__key", "-as_of", "id")

    def get_queryset(self):
        if self.request.user.is_staff:
            return PricePoint.objects.select_related("hardware", "team")
        return selectors.prices_for(self.request.user)


class HostedApiPriceViewSet(viewsets.ModelViewSet):
    """Hosted-API list prices per 1M tokens (the break-even's); any signed-in user reads, staff write, and
    staff writes are recorded in the admin's history."""

    permission_classes = (IsStaffOrReadOnly,)
    serializer_class = s.HostedApiPriceSerializer
    filterset_class = HostedApiPriceFilter
    filter_backends = (
        django_filters.rest_framework.DjangoFilterBackend,
        filters.SearchFilter,
        filters.OrderingFilter,
    )
    search_fields = ("provider", "api_model", "model__key")
    ordering_fields = (
        "as_of", "provider", "usd_per_million_input_tokens", "usd_per_million_output_tokens", "created_at",
    )  # fmt: skip
    ordering = ("model__key", "provider", "-as_of", "id")

    def get_queryset(self):
        return selectors.hosted_api_prices()

    def perform_create(self, serializer):
        serializer.instance = catalog.catalog_row_create(
            HostedApiPrice, user=self.request.user, values=dict(serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = catalog.catalog_row_update(
            serializer.instance, user=self.request.user, values=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        catalog.catalog_row_delete(instance, user=self.request.user)


# --- Teams ------------------------------------------------------------------------------------------------


class TeamViewSet(viewsets.ModelViewSet):
    permission_classes = (TeamPermission,)
    serializer_class = s.TeamSerializer
    filter_backends = (filters.SearchFilter, filters.OrderingFilter)
    search_fields = ("name", "slug")
    ordering_fields = ("name", "slug", "created_at")
    ordering = ("name",)

    def get_queryset(self):
        return selectors.teams_for(self.request.user)

    def perform_create(self, serializer):
        team = teams.team_create(user=self.request.user, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=team.pk)

    def perform_update(self, serializer):
        team = teams.team_update(serializer.instance, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=team.pk)

    @extend_schema(methods=["get"], responses=s.MembershipSerializer(many=True), request=None)
    @extend_schema(
        methods=["post"], request=s.MembershipAddSerializer, responses={202: s.InvitationSentSerializer}
    )
    @action(detail=True, methods=["get", "post"], filter_backends=())
    def members(self, request, pk=None):
        """List members (any member) or invite one by username (team admins). The invitation answers 202
        whether or not the username exists; the user joins when they accept it (/api/v1/invitations/)."""
        team = self.get_object()
        if request.method == "GET":
            members = selectors.team_members(team)
            page = self.paginate_queryset(members)
            return self.get_paginated_response(s.MembershipSerializer(page, many=True).data)
        form = s.MembershipAddSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        teams.invitation_send(
            team=team,
            username=form.validated_data["username"],
            role=form.validated_data["role"],
            invited_by=request.user,
        )
        return Response({"detail": INVITATION_SENT}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(methods=["patch"], request=s.MembershipRoleSerializer, responses=s.MembershipSerializer)
    @extend_schema(methods=["delete"], request=None, responses={204: None})
    @action(
        detail=True, methods=["patch", "delete"], url_path=r"members/(?P<user_id>\d+)", filter_backends=()
    )
    def member(self, request, pk=None, user_id=None):
        """Change a member's role or remove them (team admins); members may remove themselves."""
        team = self.get_object()
        membership = get_object_or_404(selectors.team_members(team), user_id=user_id)
        if request.method == "DELETE":
            teams.membership_remove(membership)
            return Response(status=status.HTTP_204_NO_CONTENT)
        form = s.MembershipRoleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        teams.membership_set_role(membership, role=form.validated_data["role"])
        return Response(s.MembershipSerializer(membership).data)


INVITATION_SENT = (
    "If an active user has that username and is not a member yet, they are invited and join when they accept."
)


@extend_schema_view(
    list=extend_schema(summary="Your pending team invitations"),
    retrieve=extend_schema(summary="One of your invitations"),
    destroy=extend_schema(summary="Decline an invitation"),
)
class InvitationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """The caller's own invitations: nobody else (the inviting admin included) sees them."""

    serializer_class = s.InvitationSerializer
    filter_backends = ()

    queryset = Invitation.objects.none()  # the schema's view of the model; requests get their own rows

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular generating the schema
            return Invitation.objects.none()
        return Invitation.objects.filter(user=self.request.user).select_related("team", "invited_by")

    def perform_destroy(self, instance):
        teams.invitation_decline(instance)

    @extend_schema(request=None, responses={201: s.MembershipSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Join the team with the invited role."""
        membership = teams.invitation_accept(self.get_object())
        return Response(s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


# --- Plans ------------------------------------------------------------------------------------------------


class PlanViewSet(viewsets.ModelViewSet):
    permission_classes = (PlanPermission,)
    filterset_class = PlanFilter
    filter_backends = (
        django_filters.rest_framework.DjangoFilterBackend,
        filters.SearchFilter,
        filters.OrderingFilter,
    )
    search_fields = ("name", "description")
    ordering_fields = ("name", "created_at", "updated_at")
    ordering = ("-updated_at", "-id")

    def get_queryset(self):
        return selectors.plans_for(self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return s.PlanCreateSerializer
        if self.action in ("update", "partial_update"):
            return s.PlanUpdateSerializer
        if self.action == "list":
            return s.PlanSerializer
        return s.PlanDetailSerializer

    @extend_schema(request=s.PlanCreateSerializer, responses={201: s.PlanDetailSerializer})
    def create(self, request, *args, **kwargs):
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        plan = plans.plan_create(user=request.user, **form.validated_data)
        plan = self.get_queryset().get(pk=plan.pk)
        return Response(s.PlanDetailSerializer(plan).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PlanUpdateSerializer, responses=s.PlanDetailSerializer)
    def update(self, request, *args, **kwargs):
        plan = self.get_object()
        form = s.PlanUpdateSerializer(
            plan,
            data=request.data,
            partial=kwargs.get("partial", False),
            context=self.get_serializer_context(),
        )
        form.is_valid(raise_exception=True)
        fields = dict(form.validated_data)
        inputs = fields.pop("inputs", None)
        plans.plan_update(plan, user=request.user, inputs=inputs, **fields)
        return Response(s.PlanDetailSerializer(self.get_queryset().get(pk=plan.pk)).data)

    @extend_schema(request=s.PlanUpdateSerializer, responses=s.PlanDetailSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance):
        plans.plan_delete(instance, user=self.request.user)

    @extend_schema(responses=s.PlanVersionSummarySerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], filter_backends=())
    def versions(self, request, pk=None):
        """Every version of the plan, oldest first (headline figures; a version's URL has the rest)."""
        plan = self.get_object()
        page = self.paginate_queryset(selectors.plan_versions(plan))
        return self.get_paginated_response(s.PlanVersionSummarySerializer(page, many=True).data)

    @extend_schema(responses=s.PlanVersionSerializer, filters=False)
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>\d+)", filter_backends=())
    def version(self, request, pk=None, number=None):
        plan = self.get_object()
        version = get_object_or_404(selectors.plan_versions(plan), number=number)
        return Response(s.PlanVersionSerializer(version).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("a", int, required=True, description="version number"),
            OpenApiParameter("b", int, required=True, description="version number"),
        ],
        responses={200: dict},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=())
    def diff(self, request, pk=None):
        """Inputs, results and catalog snapshot of versions a and b side by side (dotted paths)."""
        plan = self.get_object()
        query = s.DiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        versions = selectors.plan_versions(plan)
        a = get_object_or_404(versions, number=query.validated_data["a"])
        b = get_object_or_404(versions, number=query.validated_data["b"])
        return Response(plans.plan_versions_diff(a, b))

    @extend_schema(request=s.PlanRecomputeSerializer, responses={201: s.PlanVersionSerializer})
    @action(detail=True, methods=["post"], filter_backends=())
    def recompute(self, request, pk=None):
        """A new version from the current inputs and today's catalog and prices; `calibration` (a team
        calibration's id or "shipped") switches the calibration, which the versions' diff then shows."""
        form = s.PlanRecomputeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        calibration = form.validated_data.get("calibration")
        version = plans.plan_recompute(self.get_object(), user=request.user, calibration=calibration)
        return Response(s.PlanVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PlanCompareSerializer, responses={202: s.ComparisonAcceptedSerializer})
    @action(detail=True, methods=["post"], serializer_class=s.PlanCompareSerializer, filter_backends=())
    def compare(self, request, pk=None):
        """Queue a comparison of alternatives to this plan: its model and framework on every hardware entry,
        several precisions, TP 1/2/4/8, its batch size and "auto", its workload (editors)."""
        plan = self.get_object()
        form = s.PlanCompareSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        options = dict(form.validated_data)
        name = options.pop("name", None) or f"Alternatives to {plan.name}"
        job = comparisons.comparison_submit(
            user=request.user,
            team=plan.team,
            name=name,
            request=comparisons.plan_compare_request(plan, options),
            plan=plan,
        )
        return _accepted(request, job)


# --- Comparisons ------------------------------------------------------------------------------------------


def _accepted(request, job: ComparisonJob) -> Response:
    """202 with the job's URL in the body and in Location: the work happens on the workers."""
    url = request.build_absolute_uri(reverse("comparison-detail", args=[job.pk]))
    body = {"id": job.pk, "status": job.status, "url": url}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class ComparisonViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Bulk comparisons run by the workers: POST answers 202 with the job's URL; poll it for status and
    progress, then read `results/`. Viewers read, editors submit and cancel, team admins delete."""

    permission_classes = (ComparisonPermission,)
    filterset_class = ComparisonFilter
    filter_backends = (django_filters.rest_framework.DjangoFilterBackend, filters.OrderingFilter)
    ordering_fields = ("created_at", "finished_at", "name", "status")
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        queryset = selectors.comparisons_for(self.request.user)
        if self.action == "list":
            queryset = queryset.defer("request", "spec", "summary")
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return s.ComparisonCreateSerializer
        if self.action == "list":
            return s.ComparisonSerializer
        return s.ComparisonDetailSerializer

    @extend_schema(request=s.ComparisonCreateSerializer, responses={202: s.ComparisonAcceptedSerializer})
    def create(self, request, *args, **kwargs):
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        options = dict(form.validated_data)
        team, name = options.pop("team"), options.pop("name")
        job = comparisons.comparison_submit(user=request.user, team=team, name=name, request=options)
        return _accepted(request, job)

    def perform_destroy(self, instance):
        comparisons.comparison_delete(instance, user=self.request.user)

    @extend_schema(request=None, responses={200: s.ComparisonDetailSerializer})
    @action(detail=True, methods=["post"], filter_backends=())
    def cancel(self, request, pk=None):
        """Cancel a queued or running job (editors); 409 if it has already succeeded or failed."""
        job = self.get_object()
        if not comparisons.comparison_cancel(job, user=request.user):
            job.refresh_from_db(fields=["status"])
            if job.status != ComparisonJob.Status.CANCELLED:
                body = error_body("conflict", f"The comparison has already {job.status}.")
                return Response(body, status=status.HTTP_409_CONFLICT)
        job = self.get_queryset().get(pk=job.pk)
        return Response(s.ComparisonDetailSerializer(job, context=self.get_serializer_context()).data)


class ComparisonResultsView(generics.ListAPIView):
    """The stored configurations of a succeeded job, best first (`?ordering=` to change; `?format=csv`
    exports every matching row, unpaginated). 409 `not_ready` until the job has succeeded."""

    permission_classes = (ComparisonPermission,)
    serializer_class = s.ComparisonResultRowSerializer
    filterset_class = ComparisonResultFilter
    filter_backends = (django_filters.rest_framework.DjangoFilterBackend, filters.OrderingFilter)
    renderer_classes = (*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer)
    ordering_fields = (
        "rank", "order_value", "key", "model", "hardware", "precision", "ttft_ms", "tpot_ms",
        "output_tokens_per_s", "cost_per_million_tokens_usd", "prefill_cost_per_million_input_tokens_usd",
        "decode_cost_per_million_output_tokens_usd", "blended_cost_per_million_tokens_usd",
        "monthly_cost_usd", "memory_utilization",
    )  # fmt: skip

    def get_job(self) -> ComparisonJob:
        if not hasattr(self, "_job"):
            self._job = get_object_or_404(
                ComparisonJob.objects.visible_to(self.request.user).only("id", "status", "team_id"),
                pk=self.kwargs["pk"],
            )
        return self._job

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no job to look up
            return ComparisonResultRow.objects.none()
        return selectors.comparison_rows(self.get_job())

    def paginate_queryset(self, queryset):
        if (
            getattr(self.request, "accepted_renderer", None)
            and self.request.accepted_renderer.format == "csv"
        ):
            return None
        return super().paginate_queryset(queryset)

    def list(self, request, *args, **kwargs):
        job = self.get_job()
        if job.status != ComparisonJob.Status.SUCCEEDED:
            body = error_body(
                "not_ready", f"The comparison is {job.status}; results exist once it has succeeded."
            )
            return Response(body, status=status.HTTP_409_CONFLICT)
        response = super().list(request, *args, **kwargs)
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="comparison-{job.pk}.csv"'
        return response


# --- Estimate ---------------------------------------------------------------------------------------------


class EstimateAnonThrottle(AnonRateThrottle):
    scope = "estimate_anon"


class EstimateUserThrottle(UserRateThrottle):
    scope = "estimate_user"


class EstimateView(APIView):
    """Run the engine synchronously on the catalog as it is now; nothing is stored."""

    permission_classes = (AllowAny,)
    throttle_classes = (EstimateAnonThrottle, EstimateUserThrottle)

    @extend_schema(request=s.EstimateRequestSerializer, responses={200: s.EstimateResponseSerializer})
    def post(self, request):
        form = s.EstimateRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        inputs = dict(form.validated_data)
        team_id = inputs.pop("team", None)
        if team_id is not None and not Team.objects.visible_to(request.user).filter(pk=team_id).exists():
            return _not_your_team()
        run = estimates.estimate_run(inputs, team=team_id)
        return Response({"inputs": run.inputs, "result": run.result, "catalog": run.catalog_snapshot})


def _not_your_team() -> Response:
    body = error_body("invalid", detail={"team": ["not one of your teams"]})
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _synchronous(request, form_class, service) -> Response:
    """A question answered at once and not stored: the body checked by `form_class`, the team (whose prices
    apply) checked for membership, the engine's answer as JSON."""
    form = form_class(data=request.data)
    form.is_valid(raise_exception=True)
    raw = {name: value for name, value in form.validated_data.items() if value is not None}
    team_id = raw.pop("team", None)
    if team_id is not None and not Team.objects.visible_to(request.user).filter(pk=team_id).exists():
        return _not_your_team()
    return Response(service(raw, team=team_id).to_dict())


class CapacityView(APIView):
    """Plan capacity synchronously: every hardware x precision x framework x TP x PP of the request, each
    sized to the traffic within the SLO (or filling a GPU budget), ranked; nothing is stored. Shares the
    estimate endpoint's throttles (anonymous allowed)."""

    permission_classes = (AllowAny,)
    throttle_classes = (EstimateAnonThrottle, EstimateUserThrottle)

    @extend_schema(request=s.CapacityRequestSerializer, responses={200: s.CapacityPlanSerializer})
    def post(self, request):
        return _synchronous(request, s.CapacityRequestSerializer, estimates.capacity_plan)


class BreakevenView(APIView):
    """Monthly cost of each hosted API serving the model against renting or buying the GPUs each traffic
    level needs (capacity-planned within the SLO), and the traffic where they cross; nothing is stored.
    Shares the estimate endpoint's throttles (anonymous allowed)."""

    permission_classes = (AllowAny,)
    throttle_classes = (EstimateAnonThrottle, EstimateUserThrottle)

    @extend_schema(request=s.BreakevenRequestSerializer, responses={200: s.BreakevenSerializer})
    def post(self, request):
        return _synchronous(request, s.BreakevenRequestSerializer, estimates.breakeven)


class ExportView(APIView):
    """The deployment of one configuration as its framework's launch command, a Kubernetes Deployment +
    Service and a docker-compose service (calculator.planning.export): the estimate endpoint's inputs, the
    estimate's context and batch, the sizing's replicas when a traffic is given. 400 when the configuration
    does not fit or cannot be sized. Shares the estimate endpoint's throttles (anonymous allowed)."""

    permission_classes = (AllowAny,)
    throttle_classes = (EstimateAnonThrottle, EstimateUserThrottle)

    @extend_schema(request=s.EstimateRequestSerializer, responses={200: s.ExportSerializer})
    def post(self, request):
        form = s.EstimateRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        inputs = dict(form.validated_data)
        team_id = inputs.pop("team", None)
        if team_id is not None and not Team.objects.visible_to(request.user).filter(pk=team_id).exists():
            return _not_your_team()
        run = estimates.estimate_run(inputs, team=team_id)
        # The same deployment the run estimated: its canonical inputs against the same catalog.
        engine_catalog = specs.catalog_from_db(team_id).catalog
        engine_kwargs = {name: run.inputs[name] for name in estimates.ENGINE_INPUT_DEFAULTS}
        if "replicas" in run.inputs:
            engine_kwargs["replicas"] = run.inputs["replicas"]
        deployment = resolve_deployment(
            engine_catalog.models[run.inputs["model"]],
            engine_catalog.hardware[run.inputs["hardware"]],
            catalog=engine_catalog,
            **engine_kwargs,
        )
        export = export_deployment(deployment, run.estimate, run.sizing)
        return Response(
            {
                "command": export.command,
                "argv": export.argv,
                "kubernetes": export.kubernetes,
                "compose": export.compose,
                "replicas": export.replicas,
                "gpus": export.gpus,
                "gpus_per_replica": export.gpus_per_replica,
                "context_tokens": export.context_tokens,
                "max_sequences": export.max_sequences,
                "notes": export.notes,
            }
        )
