"""Admin: catalog curation (search, filters, validation by the models' clean(), duplicate, config.json
import) and read-mostly views of teams and plans. Change history is Django admin's own (LogEntry); API
edits of the catalog are logged there too (planner.services.catalog.catalog_log)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from planner.models import (
    Hardware,
    HostedApiPrice,
    LLMModel,
    Membership,
    Plan,
    PlanVersion,
    PricePoint,
    TaskProbe,
    Team,
    WorkerHeartbeat,
)
from planner.services import catalog


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "pid", "started_at", "last_seen_at")


@admin.register(TaskProbe)
class TaskProbeAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "worker_hostname", "created_at", "completed_at")


@admin.action(description="Duplicate selected rows (new key '<key>-copy')")
def duplicate_rows(modeladmin, request, queryset):
    for row in queryset:
        copy = catalog.catalog_row_duplicate(row)
        modeladmin.log_addition(request, copy, f"Duplicated from {row.key}.")
    modeladmin.message_user(request, f"Duplicated {queryset.count()} row(s).", messages.SUCCESS)


class PricePointInline(admin.TabularInline):
    model = PricePoint
    extra = 0
    fields = (
        "provider", "region", "kind", "gpus_per_instance", "usd_per_instance_hour", "usd_per_gpu_hour",
        "as_of", "catalog_default", "team", "source",
    )  # fmt: skip


@admin.register(Hardware)
class HardwareAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "vendor", "kind", "memory_gib", "bandwidth_gb_per_s", "cloud_usd_per_hour")
    list_filter = ("kind", "vendor")
    search_fields = ("key", "name", "vendor", "notes")
    ordering = ("key",)
    actions = (duplicate_rows,)
    inlines = (PricePointInline,)
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="memory (GiB)", ordering="memory_bytes")
    def memory_gib(self, row: Hardware) -> float:
        return round(row.memory_bytes / 2**30, 2)

    @admin.display(description="bandwidth (GB/s)", ordering="memory_bandwidth_bytes_per_s")
    def bandwidth_gb_per_s(self, row: Hardware) -> float:
        return round(row.memory_bandwidth_bytes_per_s / 1e9, 1)


class ConfigImportForm(forms.Form):
    config = forms.CharField(widget=forms.Textarea(attrs={"rows": 20, "cols": 100}), label="config.json")
    key = forms.CharField(required=False, help_text="Catalog key; default from _name_or_path.")
    name = forms.CharField(required=False)
    source = forms.CharField(required=False, help_text="Where the config comes from (URL).")


@admin.register(LLMModel)
class LLMModelAdmin(admin.ModelAdmin):
    list_display = (
        "key",
        "name",
        "family",
        "params_total",
        "params_active",
        "attention",
        "max_context_tokens",
    )
    list_filter = ("family", "attention", "native_precision", "tied_embeddings")
    search_fields = ("key", "name", "family", "notes")
    ordering = ("key",)
    actions = (duplicate_rows,)
    readonly_fields = ("created_at", "updated_at")
    change_list_template = "admin/planner/llmmodel/change_list.html"

    def get_urls(self):
        return [
            path(
                "import-config/",
                self.admin_site.admin_view(self.import_config_view),
                name="planner_llmmodel_import_config",
            ),
            *super().get_urls(),
        ]

    def import_config_view(self, request):
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        form = ConfigImportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                row, warnings = catalog.model_import_config(user=request.user, **form.cleaned_data)
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                for warning in warnings:
                    self.message_user(request, warning, messages.WARNING)
                self.message_user(request, f"Imported {row.key}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:planner_llmmodel_change", args=[row.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import a model from config.json",
        }
        return TemplateResponse(request, "admin/planner/llmmodel/import_config.html", context)


@admin.register(PricePoint)
class PricePointAdmin(admin.ModelAdmin):
    list_display = (
        "hardware",
        "provider",
        "region",
        "kind",
        "gpus_per_instance",
        "instance_usd",
        "usd_per_gpu_hour",
        "as_of",
        "catalog_default",
        "team",
    )
    list_filter = ("kind", "catalog_default", "provider", "team")
    search_fields = ("hardware__key", "provider", "region", "source")
    list_select_related = ("hardware", "team")
    autocomplete_fields = ("hardware",)

    @admin.display(description="$/instance-hour", ordering="usd_per_instance_hour")
    def instance_usd(self, row: PricePoint) -> float:
        return row.instance_usd_per_hour


@admin.register(HostedApiPrice)
class HostedApiPriceAdmin(admin.ModelAdmin):
    list_display = (
        "provider",
        "model",
        "api_model",
        "usd_per_million_input_tokens",
        "usd_per_million_output_tokens",
        "usd_per_million_cached_input_tokens",
        "precision",
        "as_of",
    )
    list_filter = ("provider", "model", "precision", "as_of")
    search_fields = ("provider", "api_model", "model__key", "source", "notes")
    list_select_related = ("model",)
    autocomplete_fields = ("model",)
    date_hierarchy = "as_of"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (MembershipInline,)


class PlanVersionInline(admin.TabularInline):
    model = PlanVersion
    extra = 0
    can_delete = False
    fields = ("number", "engine_version", "created_by", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "owner", "visibility", "updated_at")
    list_filter = ("visibility", "team")
    search_fields = ("name", "description")
    list_select_related = ("team", "owner")
    readonly_fields = ("current_version", "created_at", "updated_at")
    inlines = (PlanVersionInline,)
