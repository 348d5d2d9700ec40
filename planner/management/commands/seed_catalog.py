"""Load the engine's catalog (calculator/data/*.csv) into the database, idempotently.

Rows are matched by key. An existing row is left as it is (admin edits survive a re-seed) unless
--overwrite is given, which restores every CSV value. Each hardware row with a cloud price also gets a
public on-demand PricePoint (provider and date parsed from the CSV's cloud_price_source), matched by
(hardware, provider, region, kind, as_of) so a re-seed adds nothing. Hosted-API prices
(calculator/data/hosted_api_prices.csv) become HostedApiPrice rows matched by (provider, api_model, as_of):
an existing row keeps its edits unless --overwrite is given, as catalog rows do.
"""

from __future__ import annotations

import csv
import datetime as dt
import re

from django.core.management.base import BaseCommand
from django.db import transaction

from calculator.catalog import HARDWARE_CSV, load_catalog
from calculator.planning.breakeven import PRICES_PATH, hosted_prices
from calculator.prices import load_price_points
from planner import specs
from planner.models import Hardware, HostedApiPrice, LLMModel, PricePoint

_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_REGION = re.compile(r"\b([a-z]{2}-[a-z]+-\d)\b")


def _price_origin(text: str, fallback: dt.date) -> tuple[str, str, dt.date]:
    """Provider (first word), region (an AWS-style region if named) and read date of a price source."""
    provider = (text.split() or ["catalog"])[0].rstrip(",")
    region = _REGION.search(text)
    date = _DATE.search(text)
    return (
        provider,
        region.group(1) if region else "",
        dt.date.fromisoformat(date.group(1)) if date else fallback,
    )


class Command(BaseCommand):
    help = (
        "Upsert models, hardware, public cloud prices and hosted-API prices from calculator/data by key "
        "(edits kept)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--overwrite", action="store_true", help="restore CSV values on rows that already exist"
        )

    def handle(self, *args, overwrite: bool = False, **options):
        catalog = load_catalog()
        with HARDWARE_CSV.open(newline="", encoding="utf-8") as fh:
            price_sources = {row["key"]: row["cloud_price_source"].strip() for row in csv.DictReader(fh)}
        counts = {"created": 0, "updated": 0, "kept": 0, "prices": 0, "hosted": 0}
        with transaction.atomic():
            for rows, model_class, to_values in (
                (catalog.models, LLMModel, specs.model_row_values),
                (catalog.hardware, Hardware, specs.hardware_row_values),
            ):
                existing = {row.key: row for row in model_class.objects.all()}
                for key, spec in rows.items():
                    values = to_values(spec)
                    row = existing.get(key)
                    if row is None:
                        model_class.objects.create(**values)
                        counts["created"] += 1
                    elif overwrite:
                        for name, value in values.items():
                            setattr(row, name, value)
                        row.save()
                        counts["updated"] += 1
                    else:
                        counts["kept"] += 1
            hardware_ids = dict(Hardware.objects.values_list("key", "id"))
            today = dt.date.today()
            # Every sourced public price (calculator/data/gpu_prices.csv), then the engine's defaults.
            sourced = set()
            defaults_by_key = {
                key: (spec.cloud_usd_per_hour, _price_origin(price_sources.get(key) or spec.source, today))
                for key, spec in catalog.hardware.items()
                if spec.cloud_usd_per_hour > 0
            }
            for point in load_price_points():
                sourced.add((point.hardware, point.provider, point.region, point.kind, point.as_of))
                usd, (provider, _region, as_of) = defaults_by_key.get(point.hardware, (0.0, ("", "", None)))
                is_default = (
                    point.kind == PricePoint.Kind.ON_DEMAND
                    and (point.provider, point.as_of) == (provider, as_of)
                    and abs(point.usd_per_gpu_hour - usd) < 1e-9
                )
                lookup = {
                    "hardware_id": hardware_ids[point.hardware],
                    "provider": point.provider,
                    "region": point.region,
                    "kind": point.kind,
                    "as_of": point.as_of,
                    "team": None,
                }
                defaults = {
                    "usd_per_gpu_hour": point.usd_per_gpu_hour,
                    "gpus_per_instance": point.gpus_per_instance,
                    "usd_per_instance_hour": point.usd_per_instance_hour,
                    "source": f'{point.source}: "{point.quote}"',
                    "catalog_default": is_default,
                }
                upsert = (
                    PricePoint.objects.update_or_create if overwrite else PricePoint.objects.get_or_create
                )
                _point, created = upsert(**lookup, defaults=defaults)
                counts["prices"] += created
            for key, spec in catalog.hardware.items():
                if spec.cloud_usd_per_hour <= 0:
                    continue
                source = price_sources.get(key) or spec.source
                provider, region, as_of = _price_origin(source, today)
                if (key, provider, region, PricePoint.Kind.ON_DEMAND, as_of) in sourced:
                    continue  # the default is one of the sourced points, stored above with its quote
                lookup = {
                    "hardware_id": hardware_ids[key],
                    "provider": provider,
                    "region": region,
                    "kind": PricePoint.Kind.ON_DEMAND,
                    "as_of": as_of,
                    "team": None,
                }
                defaults = {
                    "usd_per_gpu_hour": spec.cloud_usd_per_hour,
                    "source": source,
                    "catalog_default": True,
                }
                upsert = (
                    PricePoint.objects.update_or_create if overwrite else PricePoint.objects.get_or_create
                )
                _point, created = upsert(**lookup, defaults=defaults)
                counts["prices"] += created
            model_ids = dict(LLMModel.objects.values_list("key", "id"))
            upsert = (
                HostedApiPrice.objects.update_or_create if overwrite else HostedApiPrice.objects.get_or_create
            )
            for price in hosted_prices(PRICES_PATH):
                values = specs.hosted_price_row_values(price, model_ids)
                lookup = {name: values.pop(name) for name in ("provider", "api_model", "as_of")}
                _row, created = upsert(**lookup, defaults=values)
                counts["hosted"] += created
        self.stdout.write(
            f"Catalog: {len(catalog.models)} models, {len(catalog.hardware)} hardware; "
            f"{counts['created']} created, {counts['updated']} restored, {counts['kept']} kept, "
            f"{counts['prices']} price points and {counts['hosted']} hosted-API prices added."
        )
