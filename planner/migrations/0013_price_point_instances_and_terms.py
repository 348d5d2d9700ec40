"""PricePoint.gpus_per_instance and usd_per_instance_hour (the instance a provider rents a GPU in and its
hourly price; empty means GPUs x $/GPU-hour), and the reserved kind split into its terms: reserved_1y and
reserved_3y.

Existing rows: the only reserved points the price file ever had are AWS EC2 Capacity Blocks
(calculator/data/gpu_prices.csv before this migration), which reserve GPUs for a block of days to weeks
booked ahead, not for a 1- or 3-year term: those public points become `capacity_block`, as the file now
has them. Any other `reserved` point (a staff-added or team price) states no term; it becomes
`reserved_1y`, the shorter and commoner term. Reversing maps the terms and capacity blocks back to
`reserved`. The public points the file rents by instances of several GPUs
get the file's GPUs per instance and instance price where their $/GPU-hour is still the file's (an admin's
own price is left as it is: its instance price stays empty, meaning GPUs x $/GPU-hour).

SQLite adds a column with a CHECK constraint by rebuilding the table, and dropping the old table drops its
triggers: the catalog revision triggers of migration 0009 are re-created on planner_pricepoint after the
rebuild (and after the rebuild that reversing this migration makes), as migration 0010 does for llmmodel.
"""

import datetime as dt
import importlib

import django.core.validators
from django.db import migrations, models

TERM_OF_RESERVED = "reserved_1y"
"""What a `reserved` point other than the file's capacity blocks becomes (the module docstring says why)."""
CAPACITY_BLOCKS = (
    ("h200-sxm-141gb", "AWS", "us-east-2", "2024-12-01"),
    ("h100-sxm-80gb", "AWS", "us-east-1", "2024-12-01"),
    ("a100-sxm-40gb", "AWS", "us-east-1", "2024-12-01"),
)
"""The price file's `reserved` points: AWS EC2 Capacity Blocks (hardware, provider, region, as_of)."""

INSTANCES = {
    ("b200-180gb", "CoreWeave", "North America", "on_demand", "2026-09-20"): (8, 68.80),
    ("b200-180gb", "CoreWeave", "North America", "spot", "2026-09-20"): (8, 34.11),
    ("gb200-192gb", "CoreWeave", "North America", "on_demand", "2026-09-20"): (4, 42.00),
    ("gb200-192gb", "Spheron", "", "on_demand", "2026-03-17"): (2, 9.08),
    ("h200-sxm-141gb", "CoreWeave", "North America", "on_demand", "2026-09-20"): (8, 50.44),
    ("h200-sxm-141gb", "CoreWeave", "North America", "spot", "2026-09-20"): (8, 20.93),
    ("h200-sxm-141gb", "AWS", "us-east-2", "capacity_block", "2024-12-01"): (8, 43.26),
    ("v100-sxm2-32gb", "AWS", "us-east-1", "on_demand", "2026-12-03"): (8, 31.212),
    ("b300-288gb", "CoreWeave", "North America", "spot", "2026-09-20"): (8, 35.84),
    ("h100-sxm-80gb", "AWS", "us-east-1", "on_demand", "2026-11-09"): (8, 55.04),
    ("h100-sxm-80gb", "AWS", "us-east-1", "capacity_block", "2024-12-01"): (8, 39.33),
    ("h100-sxm-80gb", "CoreWeave", "North America", "on_demand", "2026-09-20"): (8, 49.24),
    ("h100-sxm-80gb", "CoreWeave", "North America", "spot", "2026-09-20"): (8, 19.71),
    ("a100-sxm-80gb", "Lambda", "", "on_demand", "2026-09-20"): (8, 22.32),
    ("a100-sxm-80gb", "AWS", "us-east-1", "on_demand", "2026-11-09"): (8, 27.4472),
    ("a100-sxm-40gb", "AWS", "us-east-1", "capacity_block", "2024-12-01"): (8, 14.75),
    ("a100-sxm-40gb", "Lambda", "", "on_demand", "2026-09-20"): (8, 15.92),
    ("l40s-48gb", "CoreWeave", "North America", "on_demand", "2026-09-20"): (8, 18.00),
}
"""The price file's points rented by instances of more than one GPU, as the file had them when this migration
was written: (hardware, provider, region, kind, as_of) -> (GPUs per instance, $/instance-hour)."""


def restore_revision_triggers(apps, schema_editor) -> None:
    revision = importlib.import_module("planner.migrations.0009_catalog_revision")
    revision.recreate_sqlite_triggers(schema_editor, apps.get_model("planner", "PricePoint")._meta.db_table)


def split_terms_and_fill_instances(apps, schema_editor) -> None:
    restore_revision_triggers(apps, schema_editor)
    PricePoint = apps.get_model("planner", "PricePoint")
    for hardware, provider, region, as_of in CAPACITY_BLOCKS:
        PricePoint.objects.filter(
            kind="reserved", team__isnull=True, hardware__key=hardware, provider=provider, region=region,
            as_of=as_of,
        ).update(kind="capacity_block")  # fmt: skip
    PricePoint.objects.filter(kind="reserved").update(kind=TERM_OF_RESERVED)
    for (hardware, provider, region, kind, as_of), (gpus, instance) in INSTANCES.items():
        points = PricePoint.objects.filter(
            hardware__key=hardware,
            provider=provider,
            region=region,
            kind=kind,
            as_of=dt.date.fromisoformat(as_of),
            team__isnull=True,
            gpus_per_instance=1,
            usd_per_instance_hour__isnull=True,
        )
        for point in points:
            if abs(point.usd_per_gpu_hour * gpus - instance) <= 0.01 * gpus + 1e-9:
                point.gpus_per_instance, point.usd_per_instance_hour = gpus, instance
                point.save(update_fields=["gpus_per_instance", "usd_per_instance_hour"])


def join_terms(apps, schema_editor) -> None:
    PricePoint = apps.get_model("planner", "PricePoint")
    joined = ("reserved_1y", "reserved_3y", "capacity_block")
    PricePoint.objects.filter(kind__in=joined).update(kind="reserved")


class Migration(migrations.Migration):
    dependencies = [
        ("planner", "0012_hosted_api_prices"),
    ]

    operations = [
        # Reversed last, after RemoveField has rebuilt the table once more.
        migrations.RunPython(migrations.RunPython.noop, restore_revision_triggers),
        migrations.AddField(
            model_name="pricepoint",
            name="gpus_per_instance",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text=(
                    "GPUs in the smallest instance rented at this price (1 where single GPUs are rented)."
                ),
                validators=[django.core.validators.MinValueValidator(1)],
            ),
        ),
        migrations.AddField(
            model_name="pricepoint",
            name="usd_per_instance_hour",
            field=models.FloatField(
                blank=True,
                help_text="The instance's hourly price; empty means GPUs per instance x $/GPU-hour.",
                null=True,
                validators=[django.core.validators.MinValueValidator(0.0)],
            ),
        ),
        migrations.AlterField(
            model_name="pricepoint",
            name="kind",
            field=models.CharField(
                choices=[
                    ("on_demand", "On demand"),
                    ("spot", "Spot"),
                    ("reserved_1y", "Reserved, 1 year"),
                    ("reserved_3y", "Reserved, 3 years"),
                    ("capacity_block", "Capacity block (days to weeks, booked ahead)"),
                ],
                default="on_demand",
                help_text="A reserved term bills every hour of the term whether the GPUs are used or not.",
                max_length=16,
            ),
        ),
        migrations.RunPython(split_terms_and_fill_instances, join_terms),
    ]
