"""Sizing: the highest rate a replica sustains within an SLO (goodput), and the replicas, GPUs and cost a
traffic needs, from the serving model at the load each replica carries (never from one batch's figure).

goodput = the largest offered rate r <= max_utilization x capacity at which every SLO bound holds. Latencies
grow with the load (serving.py), so each bound holds on an interval [0, its limit] and the goodput is the
smallest limit (`_search`): the utilisation ceiling and the mean TPOT bound in closed form on the roofline
lines (serving.ReplicaModel.batch_for_rate / batch_for_tpot), the TTFT and the p99 TPOT / end-to-end bounds
by regula falsi along the sustainable curve in log b (serving.bracket_root; TTFT follows the in-flight count
through the admission queue), only the SLO's own latencies evaluated at each step.
replicas = ceil(peak rate / goodput); each replica then carries peak / replicas (its operating point is
reported), GPUs = replicas x tensor_parallel x pipeline_parallel, and
    $/hour = replicas x per-replica $/hour,  $/month = $/hour x 730,
    $/request = $/hour / (3600 x mean rate),  $/1M output tokens = $/request / output tokens x 1e6,
    $/1M tokens = $/request / (prompt + output tokens) x 1e6 (blended),
and the request's cost split by phase as hosted APIs price tokens (cost.token_costs): the prompt's share of a
request's device time at each replica's operating point (serving.ReplicaModel.prefill_share) over the prompt
tokens, the rest over the output tokens (idle capacity shared pro rata).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from calculator.calibration import Calibration
from calculator.columns import Array
from calculator.cost import HOURS_PER_MONTH, CostAssumptions, token_costs
from calculator.deployment import Deployment, deployments_batch
from calculator.engine import BLOCKERS, evaluate
from calculator.planning.slo import SLO, SLO_TERMS, Traffic
from calculator.serving import OnlineColumns, ReplicaModel, bracket_root

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


def _excess(values: dict[str, Array], slo: SLO) -> Array:
    """How far the worst bound is exceeded: max over the SLO's terms of ln(value / bound) (> 0: violated)."""
    out = None
    for term, bound_s in slo.terms():
        ratio = np.log(np.maximum(values[term.column], 1e-300) / (bound_s * (1.0 + 1e-12)))
        out = ratio if out is None else np.maximum(out, ratio)
    assert out is not None
    return out


def _binding(
    inside: dict[str, Array], outside: dict[str, Array], slo: SLO, utilization: tuple[Array, Array]
) -> Array:
    """BINDING index of the bound that crosses first between a point inside the SLO and one outside it
    (the ends of a search's bracket): each bound's ln(value / limit) interpolated linearly to its zero
    crossing, the utilisation ceiling included as ln(rate / ceiling); ties go to max_utilization, then
    SLO_TERMS order."""
    names = ["max_utilization"]
    ends = [utilization]
    for term, bound_s in slo.terms():
        names.append(term.name)
        ends.append(tuple(np.log(np.maximum(v[term.column], 1e-300) / bound_s) for v in (inside, outside)))
    crossings = []
    for low, high in ends:
        with np.errstate(divide="ignore", invalid="ignore"):
            at = np.where(high > 0, np.clip(-low / (high - low), 0.0, 1.0), np.inf)
        crossings.append(np.where(low > 0, 0.0, at))
    pick = np.argmin(np.stack(crossings), axis=0)
    return np.array([BINDING.index(n) for n in names])[pick]


def slo_goodput(
    replica: ReplicaModel, slo: SLO, max_utilization: float = DEFAULT_MAX_UTILIZATION
) -> GoodputColumns:
    capacity = replica.capacity
    ceiling = capacity * max_utilization
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
    goodput = np.where(failing_idle, 0.0, ceiling).reshape(-1)
    binding = np.where(failing_idle, BINDING.index("none"), BINDING.index("max_utilization")).reshape(-1)
    live = np.flatnonzero(~failing_idle)
    if live.size and not slo.empty:
        _search(replica.subset(live), slo, ceiling.reshape(-1)[live], live, goodput, binding)
    return GoodputColumns(
        goodput_rps=goodput.reshape(capacity.shape),
        capacity_rps=capacity,
        binding=binding.reshape(capacity.shape),
        idle=idle,
        first_failure=first_failure,
    )


TTFT_COLUMNS = {"ttft_p50_s": 0.5, "ttft_p90_s": 0.9, "ttft_p99_s": 0.99}
"""TTFT bounds and their quantile (a TTFT's admission wait turns up steeply near capacity: its search takes
a few more steps)."""


def _search(
    replica: ReplicaModel, slo: SLO, ceiling: Array, rows: Array, goodput: Array, binding: Array
) -> None:
    """Goodput and binding bound of the rows at `rows` (flat indices into `goodput` / `binding`, written in
    place) whose SLO holds at the lightest load. Every bound grows with the load, so each group of bounds
    holds up to a largest rate and the goodput is the smallest of them (and of the utilisation ceiling):
    each is searched along the sustainable curve in log b, with the ceiling as one more bound (or, where
    even one request in flight is too much load, on log rate with one in flight). TTFT depends on the
    in-flight count too: a prompt riding on decode steps waits for a step of the batch in flight, and every
    prompt for a slot, whose chance of being taken follows the in-flight count (serving.py, admission).
    Each search is `bracket_root` (regula falsi); the bound that crosses first in its bracket names itself."""
    iterations = replica.root_iterations
    n = ceiling.size
    utilization = BINDING.index("max_utilization")
    limit = ceiling.copy()
    code = np.full(n, utilization, dtype=np.int64)
    one = np.ones(n)
    columns = tuple(t.column for t, _ in slo.terms())
    rate_one, lone = replica.curve_latencies(one, columns)
    f_one = np.maximum(_excess(lone, slo), np.log(rate_one / ceiling))
    steep = np.flatnonzero(f_one > 0)
    along = np.flatnonzero(f_one <= 0)
    if along.size:
        _along_curve(replica.subset(along), slo, ceiling[along], along, limit, code, iterations)
    if steep.size:
        # The SLO binds below what one request in flight carries: at b = 1 only the rate moves (the
        # prefill share and the queues), so search the rate between a sliver of capacity and rate(1).
        part = replica.subset(steep)
        ones, nothing = np.ones(steep.size), np.zeros(steep.size, dtype=bool)

        def rate_excess(rate: Array) -> Array:
            return _excess(part.latencies(ones, rate, nothing, columns), slo)

        # Linear in the rate: the bounds move with the prefill share rate x P1, flat on a log scale.
        top = np.minimum(rate_one[steep], ceiling[steep])
        lo = np.minimum(part.capacity * 1e-6, ceiling[steep])
        f_top = rate_excess(top)
        inside = f_top > 0
        lo, hi = bracket_root(rate_excess, lo, top, rate_excess(lo), np.where(inside, f_top, 1.0), iterations)
        lo = np.where(inside, lo, top)
        inside = part.latencies(ones, lo, nothing, columns)
        outside = part.latencies(ones, hi, nothing, columns)
        cap = ceiling[steep]
        named = _binding(inside, outside, slo, (np.log(lo / cap), np.log(hi / cap)))
        _bound(limit, code, steep, lo, named)
    goodput[rows] = limit
    binding[rows] = code


def _along_curve(
    part: ReplicaModel,
    slo: SLO,
    ceiling: Array,
    at: Array,
    limit: Array,
    code: Array,
    iterations: int,
) -> None:
    """The TPOT / end-to-end bounds of rows that meet them with one request in flight, along the sustainable
    curve: the in-flight count at the utilisation ceiling and where the mean TPOT reaches its bound come in
    closed form (`ReplicaModel.batch_for_rate`, `batch_for_tpot`); the p99 TPOT and end-to-end bounds are
    searched in log b below the smaller of the two. Writes `limit` and `code` at rows `at`."""
    b_limit = part.batch_for_rate(ceiling)
    named = np.full(at.size, BINDING.index("max_utilization"))
    if slo.tpot_p50_ms is not None:
        b_tpot = part.batch_for_tpot(slo.tpot_p50_ms * 1e-3)
        lower = b_tpot < b_limit * (1.0 - 1e-12)
        b_limit = np.where(lower, b_tpot, b_limit)
        named = np.where(lower, BINDING.index("tpot_p50_ms"), named)
    rest = SLO(**{t.name: getattr(slo, t.name) for t, _ in slo.terms() if t.column != "tpot_s"})
    if not rest.empty:
        columns = tuple(t.column for t, _ in rest.terms())
        x_limit = np.log(b_limit)
        _, values = part.curve_latencies(b_limit, columns)
        f_limit = _excess(values, rest)
        over = np.flatnonzero(f_limit > 0)
        if over.size:
            sub = sub_part = part.subset(over)

            def excess(x: Array) -> Array:
                return _excess(sub_part.curve_latencies(np.exp(x), columns)[1], rest)

            f_one = excess(np.zeros(over.size))
            # The p99 bounds bend where the p99 in-flight count reaches the best batch, and a TTFT's admission
            # wait turns up steeply near capacity: a few more steps, on the rows they bind alone.
            extra = 8 if any(c in TTFT_COLUMNS for c in columns) else 4
            lo, hi = bracket_root(
                excess, np.zeros(over.size), x_limit[over], f_one, f_limit[over], iterations + extra
            )
            _, inside = sub.curve_latencies(np.exp(lo), columns)
            _, outside = sub.curve_latencies(np.exp(hi), columns)
            never = (np.full(over.size, -np.inf), np.full(over.size, -np.inf))
            b_limit[over] = np.exp(lo)
            named[over] = _binding(inside, outside, rest, never)
    rate = np.minimum(part.rate_at(b_limit), ceiling)
    _bound(limit, code, at, rate, named)


def _bound(limit: Array, code: Array, at: Array, rate: Array, named: Array) -> None:
    """Where `rate` is below the current limit of the rows `at`, it becomes the limit, with its binding
    bound `named`."""
    lower = rate < limit[at]
    limit[at] = np.where(lower, rate, limit[at])
    code[at] = np.where(lower, named, code[at])


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
    goodput: GoodputColumns | None = None,
) -> SizingColumns:
    """`goodput`: the replicas' `slo_goodput` under this `slo` and `max_utilization` where the caller has it
    (it does not depend on the traffic: a break-even sizes the same configurations for many levels)."""
    g = goodput if goodput is not None else slo_goodput(replica, slo, max_utilization)
    peak = np.asarray(peak_rps, dtype=np.float64) * np.ones_like(g.goodput_rps)
    sizable = g.goodput_rps > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        replicas = np.where(sizable, np.maximum(np.ceil(peak / g.goodput_rps * (1.0 - 1e-9)), 1.0), 0.0)
        share = np.where(sizable, peak / np.maximum(replicas, 1.0), peak)
        headroom = np.where(sizable, replicas * g.goodput_rps / peak - 1.0, np.nan)
    # Each sizable replica's operating point at its share; the others are shown at the lightest load.
    point = _at_rate_where(replica, share, sizable, g.idle)
    return SizingColumns(
        goodput=g,
        replicas=replicas,
        per_replica_rps=share,
        point=point,
        utilization=point.utilization,
        headroom=headroom,
    )


def _at_rate_where(
    replica: ReplicaModel, rate: Array, rows: Array, otherwise: OnlineColumns
) -> OnlineColumns:
    """`replica.at_rate(rate)` on the rows where `rows` holds (searched on those alone), `otherwise`
    elsewhere."""
    shape = np.shape(replica.capacity)
    index = np.flatnonzero(np.broadcast_to(rows, shape))
    if index.size == np.prod(shape, dtype=int):
        return replica.at_rate(rate)
    part = replica.subset(index).at_rate(np.broadcast_to(rate, shape).reshape(-1)[index])
    merged = {}
    for f in fields(OnlineColumns):
        out = np.array(np.broadcast_to(getattr(otherwise, f.name), shape)).reshape(-1)
        out[index] = getattr(part, f.name)
        merged[f.name] = out.reshape(shape)
    return OnlineColumns(**merged)


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
    replica: ReplicaModel
    """The serving model the columns come from (a row's cost split is read from it for the rows kept:
    ReplicaModel.prefill_share at point.concurrency)."""


def load_columns(
    replica: ReplicaModel,
    slo: SLO,
    *,
    gpus_per_replica: Array,
    mean_rps: float = 0.0,
    peak_rps: float = 0.0,
    budget_gpus: int | None = None,
    max_utilization: float = DEFAULT_MAX_UTILIZATION,
    goodput: GoodputColumns | None = None,
) -> LoadColumns:
    """With a traffic: the fewest replicas that carry its peak within the SLO (`size_replicas`), serving its
    mean. Without one: the replicas that fill `budget_gpus` (or one replica), each at its goodput.
    `goodput`: the replicas' `slo_goodput` for this `slo` and `max_utilization`, where already computed."""
    if peak_rps > 0:
        s = size_replicas(replica, slo, peak_rps, max_utilization=max_utilization, goodput=goodput)
        replicas, point, g = s.replicas, s.point, s.goodput
        served = np.full(np.shape(replicas), mean_rps)
    else:
        g = goodput if goodput is not None else slo_goodput(replica, slo, max_utilization)
        if budget_gpus is None:
            replicas = np.ones_like(g.goodput_rps)
        else:
            replicas = np.floor(budget_gpus / gpus_per_replica) * np.ones_like(g.goodput_rps)
        point = _at_rate_where(replica, g.goodput_rps, g.goodput_rps > 0, g.idle)
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
        replica=replica,
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
    """All the replicas' cost over the output tokens."""
    cost_per_million_tokens_usd: float | None
    """All the replicas' cost over prompt + output tokens (the same figure as
    blended_cost_per_million_tokens_usd, kept under its first name)."""
    prefill_share: float | None
    """Share of a request's device time in its prompt at each replica's operating point."""
    prefill_cost_per_million_input_tokens_usd: float | None
    """The prompt's share of a request's cost over the prompt tokens (None without prompt tokens)."""
    decode_cost_per_million_output_tokens_usd: float | None
    """The output tokens' share of a request's cost over the output tokens (None without output tokens)."""
    blended_cost_per_million_tokens_usd: float | None
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
    share = float(replica.prefill_share(p.concurrency)[0]) if feasible else None
    split = (
        token_costs(
            cost_per_request_usd=np.float64(per_request),
            prefill_share=np.float64(share),
            prompt_tokens=np.float64(d.prompt_tokens),
            output_tokens=np.float64(d.output_tokens),
        )
        if per_request is not None and share is not None
        else None
    )

    def split_usd(name: str) -> float | None:
        return None if split is None else _finite(getattr(split, name))

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
        prefill_share=share,
        prefill_cost_per_million_input_tokens_usd=split_usd("prefill_cost_per_million_input_tokens_usd"),
        decode_cost_per_million_output_tokens_usd=split_usd("decode_cost_per_million_output_tokens_usd"),
        blended_cost_per_million_tokens_usd=split_usd("blended_cost_per_million_tokens_usd"),
        curve=curve,
    )
