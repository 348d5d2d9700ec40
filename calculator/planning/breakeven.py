"""Break-even: a hosted API's per-token price against renting or buying the GPUs the same traffic needs.

For each traffic level (requests per day; the peak is mean x peak_to_mean) the monthly cost of
- each hosted API serving the model's weights (data/hosted_api_prices.csv, each price with its source):
      requests/day x 365/12 x (prompt x $/1M input + output x $/1M output) / 1e6;
- rent: the cheapest catalog deployment sized for the traffic within the SLO (capacity.plan_capacity at the
  catalog's on-demand cloud prices: replicas from the serving model at the load, never a batch-1 figure);
- rent_spot, rent_reserved_1y, rent_reserved_3y, rent_capacity_block: the same at each accelerator's cheapest
  rental point of that kind (prices.cheapest_by_hardware; data/gpu_prices.csv, or the service's price points),
  over the accelerators that have one, billed by whole instances: ceil(GPUs / gpus_per_instance) x
  $/instance-hour x 730 h. Every rent option keeps its replicas up all month (no autoscaling), so each bills
  every hour; a reserved term bills every hour of the term whether the GPUs are used or not, and its monthly
  figure is the term's cost spread evenly (1 or 3 years of hours at the reserved rate). Spot capacity can be
  reclaimed at short notice; the option prices it, it does not make it dependable. Capacity blocks (AWS EC2
  Capacity Blocks: days to weeks booked ahead, paid for the block) are booked back to back, every hour billed;
- buy: the cheapest deployment at purchase price, straight-line over `lifetime_years`, plus power (GPUs x
  TDP x power_utilization x PUE x $/kWh) and operations ($ per GPU-month). Where a whole server's price is
  published (data/server_prices.csv: an NVIDIA DGX system's list price as reported) the accelerator is priced
  at the server's price per GPU (host, network cards and storage included) and bought in whole servers;
  otherwise at the accelerator's own purchase price (hardware.csv purchase_usd, no host server).
Self-hosting is a step function of the traffic (whole replicas) and the API a straight line, so the two can
cross more than once just above each replica step; the crossover reported is the lowest traffic from which
self-hosting stays no dearer than the API over the rest of the range scanned (found on a geometric scan,
refined by bisection), with the deployment and its utilisation there.

Per-token figures of every option at a level, priced as the APIs price tokens:
- usd_per_million_input_tokens / usd_per_million_output_tokens: an API's list prices; for renting and buying
  the monthly cost per request split by the device time of each phase at the deployment's operating point
  (CapacityOption.prefill_share, serving.ReplicaModel.prefill_share; cost.token_costs): input x prompt +
  output x output = the cost per request, as for an API;
- usd_per_million_tokens: the cost per request over prompt + output tokens (blended at the workload's ratio).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from calculator.calibration import Calibration
from calculator.catalog import default_catalog, resolve_model
from calculator.cost import HOURS_PER_MONTH, HOURS_PER_YEAR, CostAssumptions, token_costs
from calculator.deployment import InputError
from calculator.planning.capacity import CapacityOption, plan_capacity, resolve_capacity_request
from calculator.planning.sizing import DEFAULT_MAX_UTILIZATION
from calculator.planning.slo import SLO, resolve_slo
from calculator.prices import (
    PricePointRow,
    ServerPrice,
    cheapest_by_hardware,
    cheapest_servers,
    load_price_points,
    load_server_prices,
)
from calculator.specs import Catalog

PRICES_PATH = Path(__file__).resolve().parent.parent / "data" / "hosted_api_prices.csv"
DAYS_PER_MONTH = 365.0 / 12.0
SECONDS_PER_DAY = 86_400.0
DEFAULT_LEVELS = (1_000, 10_000, 100_000, 1_000_000)
RENT_KINDS = {
    "rent": "on_demand",
    "rent_spot": "spot",
    "rent_reserved_1y": "reserved_1y",
    "rent_reserved_3y": "reserved_3y",
    "rent_capacity_block": "capacity_block",
}
"""Each rent option and the price kind it bills (rent: the catalog's on-demand default, as before)."""
OPTIONS = ("rent", "rent_spot", "rent_reserved_1y", "rent_reserved_3y", "rent_capacity_block", "buy")
OPTION_LABELS = {
    "rent": "rent (on-demand)",
    "rent_spot": "rent (spot)",
    "rent_reserved_1y": "rent (1-year reserved)",
    "rent_reserved_3y": "rent (3-year reserved)",
    "rent_capacity_block": "rent (capacity blocks)",
    "buy": "buy",
}
CURVE_POINTS = 25
"""Traffic levels of the chart's curve (geometric, a decade below the lowest level to a decade above the
highest)."""
BISECTION_STEPS = 12
DEFAULT_MAX_PRICE_AGE_DAYS = 365


@dataclass(frozen=True, kw_only=True)
class HostedPrice:
    provider: str
    model: str
    """Catalog key of the same weights."""
    api_model: str
    input_usd_per_million: float
    output_usd_per_million: float
    cached_input_usd_per_million: float | None
    precision: str
    as_of: dt.date
    """When the price was read."""
    source: str
    notes: str

    def monthly_usd(self, requests_per_day: float, prompt_tokens: int, output_tokens: int) -> float:
        per_request = (
            prompt_tokens * self.input_usd_per_million + output_tokens * self.output_usd_per_million
        ) / 1e6
        return requests_per_day * DAYS_PER_MONTH * per_request

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "as_of": self.as_of.isoformat()}


@lru_cache(maxsize=4)
def hosted_prices(path: Path = PRICES_PATH) -> tuple[HostedPrice, ...]:
    """The hosted-API price list (every row cites its source and the date it was read)."""
    out = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            cached = row["cached_input_usd_per_million"].strip()
            out.append(
                HostedPrice(
                    provider=row["provider"],
                    model=row["model"],
                    api_model=row["api_model"],
                    input_usd_per_million=float(row["input_usd_per_million"]),
                    output_usd_per_million=float(row["output_usd_per_million"]),
                    cached_input_usd_per_million=float(cached) if cached else None,
                    precision=row["precision"],
                    as_of=dt.date.fromisoformat(row["as_of"]),
                    source=row["source"],
                    notes=row["notes"],
                )
            )
    return tuple(out)


def current_prices(prices: tuple[HostedPrice, ...], model: str) -> tuple[HostedPrice, ...]:
    """The prices listed for `model`, one per provider: the one read last (latest as_of; of two read the
    same day, the later in the list), so a price list that keeps its history compares today's figures."""
    latest: dict[str, HostedPrice] = {}
    for price in prices:
        if price.model == model and (
            price.provider not in latest or price.as_of >= latest[price.provider].as_of
        ):
            latest[price.provider] = price
    return tuple(latest.values())


@dataclass(frozen=True, kw_only=True)
class BreakevenRequest:
    model: str
    prompt_tokens: int = 1000
    output_tokens: int = 200
    requests_per_day: tuple[float, ...] = DEFAULT_LEVELS
    peak_to_mean: float = 1.0
    slo: SLO = field(default_factory=SLO)
    max_utilization: float = DEFAULT_MAX_UTILIZATION
    hardware: tuple[str, ...] = ("*",)
    precisions: tuple[str, ...] = ("bf16", "fp16", "fp8")
    """Self-hosted precisions: by default those of the hosted APIs' weights (16-bit and fp8), so the
    comparison is between like models; "*" lets quantised builds in."""
    frameworks: tuple[str, ...] = ("*",)
    options: tuple[str, ...] = OPTIONS
    providers: tuple[str, ...] = ()
    """Hosted APIs to compare (empty: every provider listed for the model)."""
    lifetime_years: float = CostAssumptions.lifetime_years
    usd_per_kwh: float = CostAssumptions.usd_per_kwh
    pue: float = CostAssumptions.pue
    ops_usd_per_gpu_month: float = 0.0
    max_price_age_days: int = DEFAULT_MAX_PRICE_AGE_DAYS
    today: dt.date = field(default_factory=dt.date.today)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["slo"] = self.slo.to_dict()
        out["today"] = self.today.isoformat()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _number(
    raw: dict[str, Any], name: str, default: float, *, minimum: float = 0.0, strict: bool = True
) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(name, f"must be a number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        bound = "above" if strict else "at least"
        raise InputError(name, f"must be {bound} {minimum:g}, got {value!r}")
    return float(value)


def _names(raw: dict[str, Any], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = raw.get(name, default)
    values = [value] if isinstance(value, str) else list(value or ())
    if not all(isinstance(v, str) and v for v in values):
        raise InputError(name, "must be a list of names")
    return tuple(values)


def resolve_breakeven_request(
    raw: dict[str, Any],
    catalog: Catalog | None = None,
    *,
    prices: tuple[HostedPrice, ...] | None = None,
) -> BreakevenRequest:
    """Validate a break-even question (JSON-like dict); InputError names the offending field. `prices` is
    the hosted-API price list the providers are checked against (default: data/hosted_api_prices.csv)."""
    catalog = catalog or default_catalog()
    prices = hosted_prices() if prices is None else prices
    allowed = set(BreakevenRequest.__dataclass_fields__) - {"today"}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise InputError(extra[0], "unknown field")
    if not raw.get("model"):
        raise InputError("model", "a catalog model is required")
    try:
        model = resolve_model(str(raw["model"]), catalog).key
    except (KeyError, ValueError) as error:
        raise InputError("model", str(error).strip("'\"")) from None
    levels_raw = raw.get("requests_per_day", DEFAULT_LEVELS)
    levels_raw = [levels_raw] if isinstance(levels_raw, (int, float)) else list(levels_raw or ())
    if not levels_raw:
        raise InputError("requests_per_day", "at least one traffic level is required")
    levels = []
    for value in levels_raw:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise InputError("requests_per_day", f"every level must be a number above 0, got {value!r}")
        levels.append(float(value))
    options = _names(raw, "options", OPTIONS)
    unknown = [o for o in options if o not in OPTIONS]
    if unknown or not options:
        raise InputError(
            "options", f"must be some of {', '.join(OPTIONS)}, got {', '.join(unknown) or 'none'}"
        )
    listed = {p.provider for p in prices if p.model == model}
    providers = _names(raw, "providers", ())
    missing = [p for p in providers if p not in listed]
    if missing:
        known = ", ".join(sorted(listed)) or "none"
        raise InputError(
            "providers", f"no price listed for {model} from {', '.join(missing)} (listed: {known})"
        )
    prompt, output = raw.get("prompt_tokens", 1000), raw.get("output_tokens", 200)
    for name, value in (("prompt_tokens", prompt), ("output_tokens", output)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(name, f"must be a whole number of at least 1, got {value!r}")
    age = raw.get("max_price_age_days", DEFAULT_MAX_PRICE_AGE_DAYS)
    if isinstance(age, bool) or not isinstance(age, int) or age < 1:
        raise InputError("max_price_age_days", f"must be a whole number of at least 1, got {age!r}")
    request = BreakevenRequest(
        model=model,
        prompt_tokens=prompt,
        output_tokens=output,
        requests_per_day=tuple(sorted(set(levels))),
        peak_to_mean=_number(raw, "peak_to_mean", 1.0, minimum=1.0, strict=False),
        slo=resolve_slo(raw.get("slo")),
        max_utilization=_number(raw, "max_utilization", DEFAULT_MAX_UTILIZATION),
        hardware=_names(raw, "hardware", ("*",)),
        precisions=_names(raw, "precisions", BreakevenRequest.precisions),
        frameworks=_names(raw, "frameworks", ("*",)),
        options=options,
        providers=providers,
        lifetime_years=_number(raw, "lifetime_years", CostAssumptions.lifetime_years),
        usd_per_kwh=_number(raw, "usd_per_kwh", CostAssumptions.usd_per_kwh, strict=False),
        pue=_number(raw, "pue", CostAssumptions.pue, minimum=1.0, strict=False),
        ops_usd_per_gpu_month=_number(raw, "ops_usd_per_gpu_month", 0.0, strict=False),
        max_price_age_days=age,
    )
    # The deployment lists are validated by the capacity planner, which names the field.
    _capacity_request(request, levels[0], "rent", catalog)
    return request


@dataclass(frozen=True, kw_only=True)
class SelfHosted:
    option: str
    """One of OPTIONS."""
    monthly_usd: float
    """The deployment's monthly cost, operations included (for a priced kind, in whole instances; for buy with
    a server price, in whole servers)."""
    deployment: CapacityOption
    """The capacity plan's cheapest priced deployment for the traffic: hardware, layout, replicas, GPUs,
    latencies and utilisation at the load (its own monthly_usd bills the GPUs alone)."""
    price: dict[str, Any] | None = None
    """What the option was billed at: for a priced rent kind the price point (provider, region, kind, $/GPU-
    and $/instance-hour, GPUs per instance, instances, date, source); for buy the basis ("server": the whole
    server's price per GPU, with the server, its price, servers bought, date and source; "accelerator": the
    accelerator's own purchase price). None for rent at the catalog's default."""

    def token_costs(self, per_request_usd: float, prompt_tokens: int, output_tokens: int) -> dict[str, Any]:
        """$/1M input and output tokens of `per_request_usd` (operations included), split by the prompt's
        share of a request's device time at the deployment's operating point (cost.token_costs); None where
        the request has no tokens of the kind."""
        split = token_costs(
            cost_per_request_usd=np.float64(per_request_usd),
            prefill_share=np.float64(self.deployment.prefill_share),
            prompt_tokens=np.float64(prompt_tokens),
            output_tokens=np.float64(output_tokens),
        )

        def finite(value: Any) -> float | None:
            return float(value) if np.isfinite(value) else None

        return {
            "usd_per_million_input_tokens": finite(split.prefill_cost_per_million_input_tokens_usd),
            "usd_per_million_output_tokens": finite(split.decode_cost_per_million_output_tokens_usd),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "option": self.option,
            "label": OPTION_LABELS[self.option],
            "monthly_usd": self.monthly_usd,
            "deployment": self.deployment.to_dict(),
            "price": self.price,
        }


@dataclass(frozen=True, kw_only=True)
class Level:
    requests_per_day: float
    api_monthly_usd: dict[str, float]
    self_hosted: dict[str, SelfHosted | None]
    """The cheapest deployment per option (None: nothing priced meets the SLO at this traffic)."""

    def per_request_usd(self, monthly: float) -> float:
        return monthly / (self.requests_per_day * DAYS_PER_MONTH)


@dataclass(frozen=True, kw_only=True)
class Crossover:
    provider: str
    option: str
    requests_per_day: float | None
    """Lowest traffic from which self-hosting stays no dearer than the API (None: not within the range)."""
    at: SelfHosted | None
    api_monthly_usd: float | None


@dataclass(frozen=True, kw_only=True)
class BreakevenResult:
    request: BreakevenRequest
    prices: tuple[HostedPrice, ...]
    levels: tuple[Level, ...]
    curve: tuple[Level, ...]
    crossovers: tuple[Crossover, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        tokens = self.request.prompt_tokens + self.request.output_tokens
        listed = {p.provider: p for p in self.prices}

        def level(lv: Level) -> dict[str, Any]:
            options = {}
            for name, monthly in lv.api_monthly_usd.items():
                price = listed[name]
                options[name] = {
                    "kind": "api",
                    "monthly_usd": monthly,
                    "usd_per_request": lv.per_request_usd(monthly),
                    "usd_per_million_tokens": lv.per_request_usd(monthly) / tokens * 1e6,
                    "usd_per_million_input_tokens": price.input_usd_per_million,
                    "usd_per_million_output_tokens": price.output_usd_per_million,
                }
            for name, hosted in lv.self_hosted.items():
                if hosted is None:
                    options[name] = {
                        "kind": name,
                        "label": OPTION_LABELS[name],
                        "monthly_usd": None,
                        "deployment": None,
                        "price": None,
                    }
                    continue
                per_request = lv.per_request_usd(hosted.monthly_usd)
                split = hosted.token_costs(
                    per_request, self.request.prompt_tokens, self.request.output_tokens
                )
                options[name] = {
                    "kind": name,
                    "label": OPTION_LABELS[name],
                    "monthly_usd": hosted.monthly_usd,
                    "usd_per_request": per_request,
                    "usd_per_million_tokens": per_request / tokens * 1e6,
                    **split,
                    "deployment": hosted.deployment.to_dict(),
                    "price": hosted.price,
                }
            return {"requests_per_day": lv.requests_per_day, "options": options}

        return {
            "request": self.request.to_dict(),
            "prices": [p.to_dict() for p in self.prices],
            "levels": [level(lv) for lv in self.levels],
            "curve": [level(lv) for lv in self.curve],
            "crossovers": [
                {**asdict(c), "label": OPTION_LABELS[c.option], "at": asdict(c.at) if c.at else None}
                for c in self.crossovers
            ],
            "notes": list(self.notes),
        }


def _capacity_request(
    request: BreakevenRequest,
    requests_per_day: float,
    option: str,
    catalog: Catalog,
    hardware: tuple[str, ...] | None = None,
) -> Any:
    mean = requests_per_day / SECONDS_PER_DAY
    return resolve_capacity_request(
        {
            "model": request.model,
            "hardware": list(request.hardware if hardware is None else hardware),
            "precisions": list(request.precisions),
            "frameworks": list(request.frameworks),
            "prompt_tokens": request.prompt_tokens,
            "output_tokens": request.output_tokens,
            "requests_per_s": mean,
            "peak_to_mean": request.peak_to_mean,
            "slo": request.slo.to_dict(),
            "max_utilization": request.max_utilization,
            "deployment_mode": "local" if option == "buy" else "cloud",
            "objective": "cost",
            "top_k": 50,
        },
        catalog,
    )


class _SelfHostCosts:
    """The cheapest priced deployment for a traffic and option, each capacity plan computed once."""

    def __init__(
        self,
        request: BreakevenRequest,
        catalog: Catalog,
        calibration: Calibration | None,
        rental_points: tuple[PricePointRow, ...],
        servers: dict[str, ServerPrice],
    ):
        self.request, self.catalog, self.calibration = request, catalog, calibration
        self.assumptions = CostAssumptions(
            lifetime_years=request.lifetime_years, usd_per_kwh=request.usd_per_kwh, pue=request.pue
        )
        self.cache: dict[tuple[str, float], SelfHosted | None] = {}
        self.goodput_memo: dict[Any, Any] = {}
        """Each option's configurations' SLO goodput, shared by every traffic level (plan_capacity)."""
        wanted = set(_capacity_request(request, min(request.requests_per_day), "rent", catalog).hardware)
        # Each priced rent kind plans on a catalog whose cloud price is that kind's cheapest point, over the
        # accelerators asked for that have one (none: the option has no deployment, nothing is planned).
        self.kind_catalogs: dict[str, tuple[Catalog, dict[str, PricePointRow]]] = {}
        for option, kind in RENT_KINDS.items():
            if option == "rent":
                continue
            points = {
                key: point
                for key, point in cheapest_by_hardware(rental_points, kind).items()
                if key in wanted and key in catalog.hardware
            }
            hardware = {
                key: replace(spec, cloud_usd_per_hour=points[key].usd_per_gpu_hour)
                for key, spec in catalog.hardware.items()
                if key in points
            }
            self.kind_catalogs[option] = (replace(catalog, hardware=hardware), points)
        self.servers = {key: s for key, s in servers.items() if key in catalog.hardware}
        self.buy_catalog = replace(
            catalog,
            hardware={
                key: replace(spec, purchase_usd=self.servers[key].usd_per_gpu)
                if key in self.servers
                else spec
                for key, spec in catalog.hardware.items()
            },
        )

    def __call__(self, option: str, requests_per_day: float) -> SelfHosted | None:
        key = (option, requests_per_day)
        if key not in self.cache:
            self.cache[key] = self._cheapest(option, requests_per_day)
        return self.cache[key]

    def _plan(self, option: str, requests_per_day: float, catalog: Catalog) -> Any:
        hardware = None if catalog is self.catalog or option == "buy" else tuple(catalog.hardware)
        capacity = _capacity_request(self.request, requests_per_day, option, catalog, hardware)
        return plan_capacity(
            capacity,
            catalog=catalog,
            calibration=self.calibration,
            assumptions=self.assumptions,
            goodput_memo=self.goodput_memo,
        )

    def _cheapest(self, option: str, requests_per_day: float) -> SelfHosted | None:
        if option == "rent":
            catalog, points = self.catalog, None
        elif option == "buy":
            catalog, points = self.buy_catalog, None
        else:
            catalog, points = self.kind_catalogs[option]
            if not points:
                return None
        plan = self._plan(option, requests_per_day, catalog)
        best: tuple[float, CapacityOption, dict[str, Any] | None] | None = None
        for o in plan.options:
            if o.monthly_usd is None:
                continue
            monthly, price = o.monthly_usd, None
            if points is not None:
                monthly, price = _whole_instances(o, points[o.hardware])
            elif option == "buy":
                monthly, price = self._purchase(o)
                monthly += self.request.ops_usd_per_gpu_month * o.gpus
            if best is None or monthly < best[0]:
                best = (monthly, o, price)
        if best is None:
            return None
        monthly, o, price = best
        return SelfHosted(option=option, monthly_usd=monthly, deployment=o, price=price)

    def _purchase(self, o: CapacityOption) -> tuple[float, dict[str, Any]]:
        """Buy's monthly cost and its basis: a published whole server is bought whole (the GPUs a server
        holds beyond the deployment's are paid for too, without their power)."""
        server = self.servers.get(o.hardware)
        assert o.monthly_usd is not None
        if server is None:
            basis = {
                "basis": "accelerator",
                "usd_per_gpu": self.catalog.hardware[o.hardware].purchase_usd,
            }
            return o.monthly_usd, basis
        servers = math.ceil(o.gpus / server.gpus_per_server)
        idle_gpus = servers * server.gpus_per_server - o.gpus
        idle = (
            server.usd_per_gpu * idle_gpus / (self.request.lifetime_years * HOURS_PER_YEAR) * HOURS_PER_MONTH
        )
        basis = {
            "basis": "server",
            "server": server.server,
            "server_usd": server.usd,
            "gpus_per_server": server.gpus_per_server,
            "servers": servers,
            "usd_per_gpu": server.usd_per_gpu,
            "price_kind": server.kind,
            "as_of": server.as_of.isoformat(),
            "source": server.source,
        }
        return o.monthly_usd + idle, basis


def _whole_instances(o: CapacityOption, point: PricePointRow) -> tuple[float, dict[str, Any]]:
    """Monthly cost of a deployment rented at `point` in whole instances, and the price it was billed at."""
    instances = math.ceil(o.gpus / point.gpus_per_instance)
    monthly = instances * point.usd_per_instance_hour * HOURS_PER_MONTH
    return monthly, {
        "kind": point.kind,
        "provider": point.provider,
        "region": point.region,
        "usd_per_gpu_hour": point.usd_per_gpu_hour,
        "gpus_per_instance": point.gpus_per_instance,
        "usd_per_instance_hour": point.usd_per_instance_hour,
        "instances": instances,
        "as_of": point.as_of.isoformat(),
        "source": point.source,
    }


def compute_breakeven(
    request: BreakevenRequest,
    *,
    catalog: Catalog | None = None,
    calibration: Calibration | None = None,
    prices: tuple[HostedPrice, ...] | None = None,
    rental_points: tuple[PricePointRow, ...] | None = None,
    server_prices: tuple[ServerPrice, ...] | None = None,
) -> BreakevenResult:
    """Monthly cost of each hosted API listed for the model (`prices`, default data/hosted_api_prices.csv;
    the latest price per provider, current_prices) and of renting (at the catalog's on-demand default, and at
    each accelerator's cheapest spot, 1-year and 3-year reserved and capacity-block point of `rental_points`,
    default data/gpu_prices.csv) and buying (whole servers of `server_prices`, default
    data/server_prices.csv, where one is listed), per level and on a curve."""
    catalog = catalog or default_catalog()
    listed = current_prices(hosted_prices() if prices is None else prices, request.model)
    chosen = tuple(p for p in listed if not request.providers or p.provider in request.providers)
    points = tuple(load_price_points()) if rental_points is None else rental_points
    servers = cheapest_servers(load_server_prices() if server_prices is None else server_prices)
    costs = _SelfHostCosts(request, catalog, calibration, points, servers)

    def level(requests_per_day: float) -> Level:
        return Level(
            requests_per_day=requests_per_day,
            api_monthly_usd={
                p.provider: p.monthly_usd(requests_per_day, request.prompt_tokens, request.output_tokens)
                for p in chosen
            },
            self_hosted={o: costs(o, requests_per_day) for o in request.options},
        )

    low, high = min(request.requests_per_day) / 10.0, max(request.requests_per_day) * 10.0
    grid = [float(v) for v in np.geomspace(low, high, CURVE_POINTS)]
    curve = tuple(level(v) for v in grid)
    crossovers = []
    for price in chosen:
        for option in request.options:
            crossovers.append(_crossover(price, option, request, grid, costs))
    notes = []
    for p in chosen:
        age = (request.today - p.as_of).days
        if age > request.max_price_age_days:
            notes.append(f"{p.provider}'s price was read {age} days ago ({p.as_of}): check it is current.")
        if "Secondary" in p.notes:
            notes.append(f"{p.provider}'s price comes from a secondary page ({p.source}).")
    if not chosen:
        notes.append(f"no hosted API price is listed for {request.model}: self-hosted options only.")
    if "buy" in request.options:
        whole = ", ".join(f"{s.server} (${s.usd:,.0f}, {s.kind})" for s in costs.servers.values())
        notes.append(
            "buy counts each accelerator's catalog purchase price (not the host server, network or rack) "
            f"over {request.lifetime_years:g} years and its power at PUE {request.pue:g} and "
            f"${request.usd_per_kwh:g}/kWh, plus ${request.ops_usd_per_gpu_month:g} per GPU-month of "
            "operations"
            + (
                f"; where a whole server's price is listed it counts that server's price per GPU instead, "
                f"host included, bought in whole servers: {whole}."
                if whole
                else "."
            )
        )
    for option in request.options:
        kind = RENT_KINDS.get(option, "")
        if kind.startswith("reserved"):
            years = kind.removeprefix("reserved_").removesuffix("y")
            notes.append(
                f"{OPTION_LABELS[option]} bills every hour of the {years}-year term whether the GPUs are "
                "used or not (the monthly figure is the term's cost spread evenly), in whole instances."
            )
        elif kind == "spot":
            notes.append(
                f"{OPTION_LABELS[option]} can be reclaimed by the provider at short notice; billed in whole "
                "instances at the cheapest spot point listed."
            )
        elif kind == "capacity_block":
            notes.append(
                f"{OPTION_LABELS[option]} books GPUs for blocks of days to weeks ahead, paid in full for "
                "each block; a steady deployment books them back to back, so every hour is billed, in whole "
                "instances."
            )
        if all(lv.self_hosted[option] is None for lv in curve):
            notes.append(
                f"{OPTION_LABELS[option]}: no catalog deployment with a price of this kind meets the SLO in "
                "this range."
            )
    return BreakevenResult(
        request=request,
        prices=chosen,
        levels=tuple(level(v) for v in request.requests_per_day),
        curve=curve,
        crossovers=tuple(crossovers),
        notes=tuple(notes),
    )


def _crossover(
    price: HostedPrice, option: str, request: BreakevenRequest, grid: list[float], costs: _SelfHostCosts
) -> Crossover:
    def cheaper(requests_per_day: float) -> bool:
        hosted = costs(option, requests_per_day)
        api = price.monthly_usd(requests_per_day, request.prompt_tokens, request.output_tokens)
        return hosted is not None and hosted.monthly_usd <= api

    flags = [cheaper(v) for v in grid]
    start = None
    for i in range(len(grid) - 1, -1, -1):
        if not flags[i]:
            break
        start = i
    if start is None:
        return Crossover(
            provider=price.provider, option=option, requests_per_day=None, at=None, api_monthly_usd=None
        )
    at = grid[start]
    if start > 0:
        lo, hi = math.log(grid[start - 1]), math.log(grid[start])
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if cheaper(math.exp(mid)) else (mid, hi)
        at = math.exp(hi)
    return Crossover(
        provider=price.provider,
        option=option,
        requests_per_day=at,
        at=costs(option, at),
        api_monthly_usd=price.monthly_usd(at, request.prompt_tokens, request.output_tokens),
    )


__all__ = [
    "OPTIONS",
    "OPTION_LABELS",
    "RENT_KINDS",
    "BreakevenRequest",
    "BreakevenResult",
    "HostedPrice",
    "compute_breakeven",
    "current_prices",
    "hosted_prices",
    "resolve_breakeven_request",
]
