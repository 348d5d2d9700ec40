"""The API lists' filters (django-filter): the query parameters each list accepts besides `page`,
`page_size`, `search` and `ordering`. Whitelisted fields only; a view names its FilterSet in
`filterset_class`."""

from __future__ import annotations

import django_filters

from planner.models import (
    ComparisonJob,
    ComparisonResultRow,
    Hardware,
    HostedApiPrice,
    LLMModel,
    MeasurementSet,
    Plan,
    PricePoint,
    TeamCalibration,
)

# --- Catalog ----------------------------------------------------------------------------------------------


class HardwareFilter(django_filters.FilterSet):
    min_memory_bytes = django_filters.NumberFilter(field_name="memory_bytes", lookup_expr="gte")

    class Meta:
        model = Hardware
        fields = ("vendor", "kind")


class LLMModelFilter(django_filters.FilterSet):
    min_params_total = django_filters.NumberFilter(field_name="params_total", lookup_expr="gte")
    max_params_total = django_filters.NumberFilter(field_name="params_total", lookup_expr="lte")

    class Meta:
        model = LLMModel
        fields = ("family", "attention", "native_precision")


class PricePointFilter(django_filters.FilterSet):
    hardware = django_filters.CharFilter(field_name="hardware__key")
    public = django_filters.BooleanFilter(field_name="team", lookup_expr="isnull")

    class Meta:
        model = PricePoint
        fields = ("hardware", "provider", "region", "kind", "team", "catalog_default")


class HostedApiPriceFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__key")

    class Meta:
        model = HostedApiPrice
        fields = ("model", "provider", "api_model", "precision")


# --- Plans and comparisons --------------------------------------------------------------------------------


class PlanFilter(django_filters.FilterSet):
    class Meta:
        model = Plan
        fields = ("team", "visibility", "owner")


class ComparisonFilter(django_filters.FilterSet):
    class Meta:
        model = ComparisonJob
        fields = ("team", "status", "plan")


class ComparisonResultFilter(django_filters.FilterSet):
    pareto = django_filters.BooleanFilter(field_name="is_pareto")
    top = django_filters.BooleanFilter(field_name="is_top")
    best_for_hardware = django_filters.BooleanFilter(field_name="is_best_for_hardware")
    best_for_model = django_filters.BooleanFilter(field_name="is_best_for_model")

    class Meta:
        model = ComparisonResultRow
        fields = ("feasible", "model", "hardware", "precision", "framework", "deployment_mode")


# --- Measurement sets and calibrations --------------------------------------------------------------------


class MeasurementSetFilter(django_filters.FilterSet):
    class Meta:
        model = MeasurementSet
        fields = ("team", "name", "kind", "file_format")


class CalibrationFilter(django_filters.FilterSet):
    class Meta:
        model = TeamCalibration
        fields = ("team", "status")
