"""The one place that converts between ORM rows and the engine's dataclasses (calculator.specs).

Hardware and LLMModel columns carry the same names and SI units as HardwareSpec and ModelSpec, so each
conversion is a field-by-field copy; nothing else in the service should know both shapes.

Prices: the cloud price the engine sees is, in order, the team's latest on-demand PricePoint (when a team
is given), the latest public on-demand PricePoint marked `catalog_default` (the catalog's choice among the
public prices of several providers and dates, calculator/prices.py), then Hardware.cloud_usd_per_hour.

Hosted-API prices: HostedApiPrice rows become the break-even's HostedPrice (hosted_prices), read afresh for
each break-even rather than cached with the catalog.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from calculator.planning.breakeven import HostedPrice
from calculator.prices import PricePointRow
from calculator.specs import Catalog, HardwareSpec, ModelSpec
from planner.models import CatalogRevision, Hardware, HostedApiPrice, LLMModel, PricePoint, Team

_MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelSpec))
_HARDWARE_FIELDS = tuple(f.name for f in dataclasses.fields(HardwareSpec))


@dataclass(frozen=True, kw_only=True)
class Price:
    """The price a hardware row gets in an estimate, and where it came from."""

    usd_per_gpu_hour: float
    origin: str
    """'team' (a team's override), 'public' (a public price point) or 'hardware' (the row's own column)."""
    price_point_id: int | None = None
    provider: str = ""
    as_of: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def model_spec(row: LLMModel) -> ModelSpec:
    values = {name: getattr(row, name) for name in _MODEL_FIELDS}
    values["aliases"] = tuple(row.aliases or ())
    return ModelSpec(**values)


def hardware_spec(row: Hardware, price: Price | None = None) -> HardwareSpec:
    values = {name: getattr(row, name) for name in _HARDWARE_FIELDS}
    values["aliases"] = tuple(row.aliases or ())
    if price is not None:
        values["cloud_usd_per_hour"] = price.usd_per_gpu_hour
    return HardwareSpec(**values)


def model_row_values(spec: ModelSpec) -> dict[str, Any]:
    """Column values for an LLMModel row from a spec (seeding, config.json import)."""
    values = {name: getattr(spec, name) for name in _MODEL_FIELDS}
    values["aliases"] = list(spec.aliases)
    return values


def hardware_row_values(spec: HardwareSpec) -> dict[str, Any]:
    """Column values for a Hardware row from a spec (seeding)."""
    values = {name: getattr(spec, name) for name in _HARDWARE_FIELDS}
    values["aliases"] = list(spec.aliases)
    return values


def spec_as_dict(spec: ModelSpec | HardwareSpec) -> dict[str, Any]:
    """JSON-safe dict of a spec, as stored in a plan version's catalog snapshot (a spec's fields are numbers,
    strings and the aliases tuple: a field copy, not dataclasses.asdict's deep copy, which every estimate
    paid for twice)."""
    fields = _MODEL_FIELDS if isinstance(spec, ModelSpec) else _HARDWARE_FIELDS
    values = {name: getattr(spec, name) for name in fields}
    values["aliases"] = list(spec.aliases)
    return values


def prices(team: Team | int | None = None) -> dict[int, Price]:
    """Effective on-demand price per hardware id from price points (one query); absent where none."""
    team_id = team.pk if isinstance(team, Team) else team
    scope = Q(team__isnull=True) if team_id is None else Q(team__isnull=True) | Q(team_id=team_id)
    # Public points count only where marked as the catalog's default: the others are there to compare.
    scope &= Q(team__isnull=False) | Q(catalog_default=True)
    points = PricePoint.objects.filter(scope, kind=PricePoint.Kind.ON_DEMAND)
    chosen: dict[int, tuple[tuple, Price]] = {}
    for point in points.only(
        "id", "hardware_id", "team_id", "provider", "usd_per_gpu_hour", "as_of", "source"
    ):
        # A team override beats any public price; within a scope the latest as_of (then newest row) wins.
        rank = (point.team_id is not None, point.as_of, point.pk)
        current = chosen.get(point.hardware_id)
        if current is None or rank > current[0]:
            chosen[point.hardware_id] = (
                rank,
                Price(
                    usd_per_gpu_hour=point.usd_per_gpu_hour,
                    origin="team" if point.team_id is not None else "public",
                    price_point_id=point.pk,
                    provider=point.provider,
                    as_of=point.as_of.isoformat(),
                    source=point.source,
                ),
            )
    return {hardware_id: price for hardware_id, (_rank, price) in chosen.items()}


def rental_points(team: Team | int | None = None) -> tuple[PricePointRow, ...]:
    """Every public price point, and the team's, as the engine's PricePointRow (the break-even's rent kinds
    pick each accelerator's cheapest of a kind, calculator.prices.cheapest_by_hardware). Where the team has a
    point of a kind for an accelerator, only the team's points of that kind count for it: a team's own
    price beats any public one, as for the on-demand default (one query)."""
    team_id = team.pk if isinstance(team, Team) else team
    scope = Q(team__isnull=True) if team_id is None else Q(team__isnull=True) | Q(team_id=team_id)
    rows = PricePoint.objects.filter(scope).select_related("hardware")
    points = [(row.team_id is not None, _price_point_row(row)) for row in rows]
    overridden = {(p.hardware, p.kind) for own, p in points if own}
    return tuple(p for own, p in points if own or (p.hardware, p.kind) not in overridden)


def _price_point_row(row: PricePoint) -> PricePointRow:
    return PricePointRow(
        hardware=row.hardware.key,
        provider=row.provider,
        region=row.region,
        kind=row.kind,
        usd_per_gpu_hour=row.usd_per_gpu_hour,
        as_of=row.as_of,
        source=row.source,
        quote="",
        gpus_per_instance=row.gpus_per_instance,
        usd_per_instance_hour=row.instance_usd_per_hour,
    )


def price_for(row: Hardware, price_points: dict[int, Price]) -> Price:
    return price_points.get(row.pk) or Price(
        usd_per_gpu_hour=row.cloud_usd_per_hour, origin="hardware", source=row.source
    )


def hosted_price(row: HostedApiPrice) -> HostedPrice:
    """A HostedApiPrice row as the break-even's HostedPrice (model: the catalog key of the same weights)."""
    return HostedPrice(
        provider=row.provider,
        model=row.model.key,
        api_model=row.api_model,
        input_usd_per_million=row.usd_per_million_input_tokens,
        output_usd_per_million=row.usd_per_million_output_tokens,
        cached_input_usd_per_million=row.usd_per_million_cached_input_tokens,
        precision=row.precision,
        as_of=row.as_of,
        source=row.source,
        notes=row.notes,
    )


def hosted_price_row_values(price: HostedPrice, model_ids: dict[str, int]) -> dict[str, Any]:
    """The HostedApiPrice column values of an engine HostedPrice (seed_catalog, tests)."""
    return {
        "provider": price.provider,
        "model_id": model_ids[price.model],
        "api_model": price.api_model,
        "usd_per_million_input_tokens": price.input_usd_per_million,
        "usd_per_million_output_tokens": price.output_usd_per_million,
        "usd_per_million_cached_input_tokens": price.cached_input_usd_per_million,
        "precision": price.precision,
        "as_of": price.as_of,
        "source": price.source,
        "notes": price.notes,
    }


def hosted_prices(model: str | None = None) -> tuple[HostedPrice, ...]:
    """The hosted-API price list as it is in the database now (one query; not cached, so a staff edit counts
    in the next break-even), every row or those of one catalog model. The break-even keeps the latest
    row per provider (calculator.planning.breakeven.current_prices)."""
    rows = HostedApiPrice.objects.select_related("model").order_by("as_of", "id")
    if model is not None:
        rows = rows.filter(model__key=model)
    return tuple(hosted_price(row) for row in rows)


@dataclass(frozen=True, kw_only=True)
class DbCatalog:
    """A Catalog built from the tables, with the price each hardware entry got."""

    catalog: Catalog
    prices: dict[str, Price]
    """Price per hardware key."""
    model_ids: dict[str, int]
    hardware_ids: dict[str, int]


CATALOG_CACHE_TEAMS = 64
"""Catalogs kept per process (one per team, since team prices differ), least recently used evicted."""
_catalog_cache: OrderedDict[int | None, tuple[str, DbCatalog]] = OrderedDict()
_catalog_cache_lock = threading.Lock()


def clear_catalog_cache() -> None:
    """Forget every cached catalog (the next call of each team rebuilds it); for benchmarks and tools."""
    with _catalog_cache_lock:
        _catalog_cache.clear()


def catalog_revision() -> str | None:
    """The catalog's current revision token (one indexed query); None where the row is missing (a test's
    flush), in which case nothing is cached."""
    return CatalogRevision.objects.filter(pk=1).values_list("token", flat=True).first()


def catalog_from_db(team: Team | int | None = None) -> DbCatalog:
    """The whole catalog as the engine's Catalog with the team's prices, as it is in the database now.

    Cached per process and team under the catalog revision (models.CatalogRevision), which database
    triggers rewrite in the transaction of any catalog or price write: a cache hit costs one query, and an
    edit counts in the next estimate. The token is read before the rows, so a write committed while they
    are read leaves a catalog at least as new as its label (the next call sees the new token and rebuilds).
    The returned catalog is shared: callers must not mutate it."""
    team_id = team.pk if isinstance(team, Team) else team
    token = catalog_revision()
    if token is not None:
        with _catalog_cache_lock:
            hit = _catalog_cache.get(team_id)
            if hit is not None and hit[0] == token:
                _catalog_cache.move_to_end(team_id)
                return hit[1]
    db = _build_catalog(team_id)
    if token is not None:
        with _catalog_cache_lock:
            _catalog_cache[team_id] = (token, db)
            _catalog_cache.move_to_end(team_id)
            while len(_catalog_cache) > CATALOG_CACHE_TEAMS:
                _catalog_cache.popitem(last=False)
    return db


def _build_catalog(team_id: int | None) -> DbCatalog:
    """The catalog read from the tables (three queries)."""
    price_points = prices(team_id)
    hardware_rows = list(Hardware.objects.all())
    model_rows = list(LLMModel.objects.all())
    hw_prices = {row.key: price_for(row, price_points) for row in hardware_rows}
    catalog = Catalog(
        models={row.key: model_spec(row) for row in model_rows},
        hardware={row.key: hardware_spec(row, hw_prices[row.key]) for row in hardware_rows},
    )
    return DbCatalog(
        catalog=catalog,
        prices=hw_prices,
        model_ids={row.key: row.pk for row in model_rows},
        hardware_ids={row.key: row.pk for row in hardware_rows},
    )


def catalog_snapshot(db: DbCatalog, *, models: Iterable[str], hardware: Iterable[str]) -> dict[str, Any]:
    """The catalog rows a comparison uses, as the engine saw them (prices applied), with their row ids and
    the price each hardware entry got; `catalog_from_snapshot` rebuilds the engine's Catalog from it."""
    return {
        "models": {key: {"id": db.model_ids[key], **spec_as_dict(db.catalog.models[key])} for key in models},
        "hardware": {
            key: {"id": db.hardware_ids[key], **spec_as_dict(db.catalog.hardware[key])} for key in hardware
        },
        "prices": {key: db.prices[key].as_dict() for key in hardware},
    }


def catalog_from_snapshot(snapshot: dict[str, Any]) -> Catalog:
    """The engine's Catalog from a `catalog_snapshot` (row ids and prices are bookkeeping, not inputs)."""

    def spec(cls, values: dict[str, Any]):
        values = {name: values[name] for name in (f.name for f in dataclasses.fields(cls)) if name in values}
        values["aliases"] = tuple(values.get("aliases") or ())
        return cls(**values)

    return Catalog(
        models={key: spec(ModelSpec, values) for key, values in snapshot["models"].items()},
        hardware={key: spec(HardwareSpec, values) for key, values in snapshot["hardware"].items()},
    )
