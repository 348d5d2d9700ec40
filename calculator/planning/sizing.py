"""Sizing: the highest rate a replica sustains within an SLO (goodput), and the replicas, GPUs and cost a
traffic needs, from the serving model at the load each replica carries (never from one batch's figure).

goodput = the largest offered rate r <= max_utilization x capacity at which every SLO bound holds. Latencies
grow with the load (serving.py), so the bounds hold on an interval [0, goodput]: the search walks the
sustainable curve by in-flight count b (bisection in log b; one serving evaluation per step).
replicas = ceil(peak rate / goodput); each replica then carries peak / replicas (its operating point is
reported), GPUs = replicas x tensor_parallel x pipeline_parallel, and
    $/hour = replicas x per-replica $/hour,  $/month = $/hour x 730,
    $/request = $/hour / (3600 x mean rate),  $/1M output tokens = $/request / output tokens x 1e6,
    $/1M tokens = $/request / (prompt + output tokens) x 1e6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calculator.calibration import Calibration
from calculator.columns import Array
from calculator.cost import HOURS_PER_MONTH, CostAssumptions
from calculator.deployment import Deployment, deployments_batch
from calculator.engine import BLOCKERS, evaluate
from calculator.planning.slo import SLO, SLO_TERMS, Traffic
from calculator.serving import OnlineColumns, ReplicaModel

DEFAULT_MAX_TOTAL_GPUS = 4096
"""Sizing a traffic, a deployment of more GPUs than this is rejected ("gpu_budget") unless a budget is given:
a configuration that only meets the SLO at a sliver of its capacity would otherwise be "sized" to millions of
replicas."""
DEFAULT_MAX_UTILIZATION = 0.9
"""Planning headroom: no replica is planned above 90% of its saturation rate (queues grow without bound
there, and the estimate itself carries a ~10% error band). 1.0 plans to the SLO alone."""
BINDING = ("none", "max_utilization", *(t.name for t in SLO_TERMS))
"""Binding-constraint codes: index into this tuple. "none" = the SLO fails even at the lightest load."""


@dataclass(frozen=True, kw_only=True)
class GoodputColumns:
    goodput_rps: Array
    """Largest rate per replica within the SLO and the utilisation cap (0: the SLO fails at any load)."""
    capacity_rps: Array
    binding: Array
    """Index into BINDING of the bound that stops the rate from growing (max_utilization when no SLO bound
    binds first)."""
    idle: OnlineColumns
    """The operating point at the lightest load (what an SLO that fails everywhere is compared to)."""
    first_failure: Array
    """Index into BINDING of the first SLO term that fails at the lightest load (0 when none fails)."""


def _violations(point: OnlineColumns, slo: SLO) -> list[tuple[int, Array]]:
    """(BINDING index, mask of rows over that bound) for each bound set, in SLO_TERMS order."""
    out = []
    for term, bound_s in slo.terms():
        value = getattr(point, term.column)
        out.append((BINDING.index(term.name), ~(value <= bound_s * (1.0 + 1e-12))))
    return out


def slo_goodput(
    replica: ReplicaModel, slo: SLO, max_utilization: float = DEFAULT_MAX_UTILIZATION
) -> GoodputColumns:
    capacity = replica.capacity
    ceiling = capacity * max_utilization
    steps = replica.bisection_steps
    ones, never = np.ones_like(capacity), np.zeros(capacity.shape, dtype=bool)
    # The lightest load: a sliver of capacity, carried by one request in flight.
    idle = replica.point_at(
        ones, np.minimum(np.minimum(capacity * 1e-6, ceiling), replica.rate_at(ones)), never
    )
    first_failure = np.zeros(capacity.shape, dtype=np.int64)
    failing_idle = np.zeros(capacity.shape, dtype=bool)
    for code, bad in reversed(_violations(idle, slo)):
        first_failure = np.where(bad, code, first_failure)
        failing_idle |= bad
    top = replica.at_rate(ceiling)
    failing_top = np.zeros(capacity.shape, dtype=bool)
    for _, bad in _violations(top, slo):
        failing_top |= bad
    # Bisection in log b between the lightest load (b = 1) and the in-flight count at the ceiling.
    lo = np.zeros_like(capacity)
    hi = np.log(np.maximum(top.concurrency, 1.0))
    search = failing_top & ~failing_idle
    if np.any(search):
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            point = replica.at_batch(np.exp(mid))
            bad = np.zeros(capacity.shape, dtype=bool)
            for _, over in _violations(point, slo):
                bad |= over
            lo = np.where(search & ~bad, mid, lo)
            hi = np.where(search & bad, mid, hi)
    edge_ok = replica.at_batch(np.exp(lo))
    goodput = np.where(search, np.minimum(edge_ok.requests_per_s, ceiling), ceiling)
    # At b = 1 the sustainable rate may already exceed what the SLO allows only at lighter loads than a
    # batch of one carries: the bisection then keeps lo = 0 and the rate of one in flight, checked below.
    lone_ok = np.ones(capacity.shape, dtype=bool)
    for _, over in _violations(edge_ok, slo):
        lone_ok &= ~over
    light = search & ~lone_ok
    above_light = None
    if np.any(light):
        # The SLO binds below what one request in flight carries: at b = 1 only the rate moves (the prefill
        # share and the queues), so bisect on the rate (log scale) between the lightest load and rate(1).
        lo_r = np.log(np.maximum(idle.requests_per_s, 1e-300))
        hi_r = np.log(np.maximum(replica.rate_at(ones), 1e-300))
        for _ in range(steps):
            mid = 0.5 * (lo_r + hi_r)
            bad = np.zeros(capacity.shape, dtype=bool)
            for _, over in _violations(replica.point_at(ones, np.exp(mid), never), slo):
                bad |= over
            lo_r = np.where(light & ~bad, mid, lo_r)
            hi_r = np.where(light & bad, mid, hi_r)
        goodput = np.where(light, np.exp(lo_r), goodput)
        above_light = replica.point_at(ones, np.exp(hi_r), never)
    goodput = np.where(failing_idle, 0.0, goodput)
    binding = np.full(capacity.shape, BINDING.index("max_utilization"), dtype=np.int64)
    if np.any(search):
        # The bound crossed just above the goodput names itself.
        above = replica.at_batch(np.exp(hi))
        for code, over in reversed(_violations(above, slo)):
            binding = np.where(search & ~light & over, code, binding)
        if above_light is not None:
            for code, over in reversed(_violations(above_light, slo)):
                binding = np.where(light & over, code, binding)
    binding = np.where(failing_idle, BINDING.index("none"), binding)
    return GoodputColumns(
        goodput_rps=goodput, capacity_rps=capacity, binding=binding, idle=idle, first_failure=first_failure
    )


@dataclass(frozen=True, kw_only=True)
class SizingColumns:
    goodput: GoodputColumns
    replicas: Array
    """Replicas needed for the peak rate (0 when the SLO cannot be met at any load)."""
    per_replica_rps: Array
    point: OnlineColumns
    """Each replica's operating point at peak / replicas."""
    utilization: Array
    headroom: Array
    """How much more peak traffic the replicas carry within the SLO: replicas x goodput / peak - 1."""


def size_replicas(
    replica: ReplicaModel,
    slo: SLO,
    peak_rps: float | Array,
    *,
    max_utilization: float = DEFAULT_MAX_UTILIZATION,
) -> SizingColumns:
    g = slo_goodput(replica, slo, max_utilization)
    peak = np.asarray(peak_rps, dtype=np.float64) * np.ones_like(g.goodput_rps)
    sizable = g.goodput_rps > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        replicas = np.where(sizable, np.maximum(np.ceil(peak / g.goodput_rps * (1.0 - 1e-9)), 1.0), 0.0)
        share = np.where(sizable, peak / np.maximum(replicas, 1.0), peak)
        headroom = np.where(sizable, replicas * g.goodput_rps / peak - 1.0, np.nan)
    point = replica.at_rate(share)
    return SizingColumns(
        goodput=g,
        replicas=replicas,
        per_replica_rps=share,
        point=point,
        utilization=point.utilization,
        headroom=headroom,
    )


@dataclass(frozen=True, kw_only=True)
class LoadColumns:
    """Each configuration at the load it would carry (broadcast arrays; see `load_columns`)."""

    replicas: Array
    gpus: Array
    served_rps: Array
    """Requests/s all replicas serve: the traffic's mean, or replicas x goodput without a traffic."""
    slo_capacity_rps: Array
    """Requests/s all replicas can serve within the SLO: replicas x goodput."""
    point: OnlineColumns
    """One replica's operating point."""
    goodput: GoodputColumns
    within_slo: Array
    within_budget: Array


def load_columns(
    replica: ReplicaModel,
    slo: SLO,
    *,
    gpus_per_replica: Array,
    mean_rps: float = 0.0,
    peak_rps: float = 0.0,
    budget_gpus: int | None = None,
    max_utilization: float = DEFAULT_MAX_UTILIZATION,
) -> LoadColumns:
    """With a traffic: the fewest replicas that carry its peak within the SLO (`size_replicas`), serving its
    mean. Without one: the replicas that fill `budget_gpus` (or one replica), each at its goodput."""
    if peak_rps > 0:
        s = size_replicas(replica, slo, peak_rps, max_utilization=max_utilization)
        replicas, point, g = s.replicas, s.point, s.goodput
        served = np.full(np.shape(replicas), mean_rps)
    else:
        g = slo_goodput(replica, slo, max_utilization)
        if budget_gpus is None:
            replicas = np.ones_like(g.goodput_rps)
        else:
            replicas = np.floor(budget_gpus / gpus_per_replica) * np.ones_like(g.goodput_rps)
        point = replica.at_rate(g.goodput_rps)
        served = replicas * g.goodput_rps
    gpus = replicas * gpus_per_replica
    within_slo = g.goodput_rps > 0
    within_budget = (replicas >= 1) & (
        gpus <= (DEFAULT_MAX_TOTAL_GPUS if budget_gpus is None else budget_gpus)
    )
    return LoadColumns(
        replicas=replicas,
        gpus=gpus,
        served_rps=served,
        slo_capacity_rps=replicas * g.goodput_rps,
        point=point,
        goodput=g,
        within_slo=within_slo,
        within_budget=within_budget,
    )


def binding_message(code: int, goodput_rps: float, slo: SLO) -> str:
    """ "TTFT p99 reaches 1,000 ms at 11.2 req/s" for the bound that stops the rate growing."""
    name = BINDING[code]
    if name == "max_utilization":
        return f"the utilisation cap binds first: {goodput_rps:,.3g} req/s per replica"
    term = next((t for t in SLO_TERMS if t.name == name), None)
    if term is None:
        return "the SLO is not met even at the lightest load"
    return f"{term.label} reaches {getattr(slo, name):,g} {term.unit} at {goodput_rps:,.3g} req/s per replica"


# ------------------------------------------------------------------------------ one deployment, as a record

CURVE_POINTS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
"""Shares of a replica's capacity at which the latency-vs-load curve is drawn."""


@dataclass(frozen=True, kw_only=True)
class SizingEstimate:
    """How many replicas of one configuration a traffic needs within an SLO, and what they cost."""

    slo: dict[str, float]
    traffic: dict[str, float | None]
    max_utilization: float
    feasible: bool
    """The configuration runs and meets the SLO at some load."""
    reason: str | None
    """Why not, when not feasible."""
    capacity_rps_per_replica: float
    goodput_rps_per_replica: float
    binding_constraint: str
    binding_message: str
    failing: dict[str, float | str] | None
    """When the SLO fails at any load: the first bound that fails at the lightest load, its value there and
    how far over it is ({"constraint", "value", "limit", "ratio"})."""
    replicas: int | None
    gpus_per_replica: int
    gpus: int | None
    requests_per_s_per_replica: float | None
    """Each replica's share of the peak rate."""
    batch: float | None
    """Requests in flight on each replica at that share."""
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    tpot_p50_ms: float | None
    tpot_p99_ms: float | None
    e2e_p99_s: float | None
    utilization: float | None
    headroom: float | None
    price_missing: bool
    hourly_usd: float | None
    monthly_usd: float | None
    cost_per_request_usd: float | None
    cost_per_million_output_tokens_usd: float | None
    cost_per_million_tokens_usd: float | None
    curve: list[dict[str, float | None]]
    """One replica's latency against its load: requests_per_s, ttft_p99_ms, tpot_ms, e2e_p99_s."""


def _finite(value: float, scale: float = 1.0) -> float | None:
    return float(value) * scale if np.isfinite(value) else None


def size_deployment(
    d: Deployment,
    slo: SLO,
    traffic: Traffic,
    *,
    calibration: Calibration | None = None,
    assumptions: CostAssumptions | None = None,
    max_utilization: float = DEFAULT_MAX_UTILIZATION,
) -> SizingEstimate:
    """Size one configuration (d's model, hardware, precision, framework, TP x PP, lengths) for `traffic`
    within `slo`. d's own replica count is ignored: the answer is how many are needed."""
    one = d.replace(num_gpus=d.gpus_per_replica, batch_size=0)
    batch = deployments_batch([one], calibration)
    results = evaluate(batch, assumptions)
    replica = ReplicaModel(batch, results.max_batch_size)
    sizing = size_replicas(replica, slo, traffic.peak_rps, max_utilization=max_utilization)
    g = sizing.goodput
    blockers = int(results.blockers[0])
    price_missing = bool(results.cost.price_missing[0])
    hourly_replica = float(results.cost.hourly_usd[0])
    capacity = float(g.capacity_rps[0])
    # One replica, many offered rates: the serving model broadcasts the rates over its one configuration.
    curve_point = replica.at_rate(np.array([capacity * s for s in CURVE_POINTS]))
    curve = [
        {
            "requests_per_s": float(curve_point.requests_per_s[i]),
            "ttft_p99_ms": _finite(curve_point.ttft_p99_s[i], 1e3),
            "tpot_ms": _finite(curve_point.tpot_s[i], 1e3),
            "e2e_p99_s": _finite(curve_point.e2e_p99_s[i]),
        }
        for i in range(len(CURVE_POINTS))
    ]
    code = int(g.binding[0])
    failing = None
    reason = None
    if blockers:
        reasons = [message for bit, (_, message) in BLOCKERS.items() if blockers & bit]
        reason = f"the configuration cannot run: {'; '.join(reasons)}"
    elif g.goodput_rps[0] <= 0:
        first = BINDING[int(g.first_failure[0])]
        term = next(t for t in SLO_TERMS if t.name == first)
        value = float(getattr(g.idle, term.column)[0]) / term.to_seconds
        limit = float(getattr(slo, first))
        failing = {"constraint": first, "value": value, "limit": limit, "ratio": value / limit}
        reason = (
            f"{term.label} is {value:,.4g} {term.unit} even at the lightest load, over the SLO's {limit:,g} "
            f"{term.unit} ({value / limit:.2f}x)"
        )
    feasible = reason is None
    p = sizing.point
    replicas = int(sizing.replicas[0]) if feasible else None
    mean_rps = traffic.requests_per_s
    usd_ok = feasible and not price_missing
    hourly = hourly_replica * replicas if usd_ok and replicas else None
    per_request = hourly / (3600.0 * mean_rps) if hourly is not None else None

    def when(value: float, scale: float = 1.0) -> float | None:
        return _finite(value, scale) if feasible else None

    return SizingEstimate(
        slo=slo.to_dict(),
        traffic=traffic.to_dict(),
        max_utilization=max_utilization,
        feasible=feasible,
        reason=reason,
        capacity_rps_per_replica=capacity,
        goodput_rps_per_replica=float(g.goodput_rps[0]),
        binding_constraint=BINDING[code] if feasible else "none",
        binding_message=binding_message(code, float(g.goodput_rps[0]), slo) if feasible else (reason or ""),
        failing=failing,
        replicas=replicas,
        gpus_per_replica=d.gpus_per_replica,
        gpus=replicas * d.gpus_per_replica if replicas else None,
        requests_per_s_per_replica=when(sizing.per_replica_rps[0]),
        batch=when(p.concurrency[0]),
        ttft_p50_ms=when(p.ttft_p50_s[0], 1e3),
        ttft_p99_ms=when(p.ttft_p99_s[0], 1e3),
        tpot_p50_ms=when(p.tpot_s[0], 1e3),
        tpot_p99_ms=when(p.tpot_p99_s[0], 1e3),
        e2e_p99_s=when(p.e2e_p99_s[0]),
        utilization=when(sizing.utilization[0]),
        headroom=when(sizing.headroom[0]),
        price_missing=price_missing,
        hourly_usd=hourly,
        monthly_usd=hourly * HOURS_PER_MONTH if hourly is not None else None,
        cost_per_request_usd=per_request,
        cost_per_million_output_tokens_usd=(
            per_request / max(d.output_tokens, 1) * 1e6 if per_request is not None else None
        ),
        cost_per_million_tokens_usd=(
            per_request / max(d.prompt_tokens + d.output_tokens, 1) * 1e6 if per_request is not None else None
        ),
        curve=curve,
    )
