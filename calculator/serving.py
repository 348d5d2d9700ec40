"""Online serving: requests arriving at a rate (or a fixed concurrency) on a continuous-batching server.

Everything is parametrised by the in-flight count b (requests admitted, 1 <= b <= the admissible batch). At
in-flight count b a replica spends prefill(b) / b of device time per request (concurrent prompts are batched)
and decode steps of D(b); prefills interrupt decoding, so
    TPOT(b, rate) = D(b) / (1 - rho_prefill),   rho_prefill = rate x prefill(b) / b,
    e2e(b, rate) = prefill(1) + (output - 1) x TPOT(b, rate).
Little's law b = rate x e2e gives the rate a replica sustains at in-flight count b in closed form (the smaller
root of P1 Pb r^2 - (P1 + s D + b Pb) r + b = 0, P1 = prefill(1), Pb = prefill(b) / b, s = output - 1):
    rate(b) = 2 b / (B + sqrt(B^2 - 4 P1 Pb b)),   B = P1 + s D + b Pb   (so rho_prefill < 1 always).
The replica's capacity is the largest sustainable rate over the admissible batches (`replica_capacity`); an
offered rate is served at the in-flight count whose rate(b) equals it (`online_operating_point`), so served
rate, batch, TPOT and every latency grow with the offered rate; above capacity the replica is saturated: it
serves its capacity and the queue in front of it grows without bound (infinite TTFT, None in JSON).

TTFT waits in two queues (each an upper-bound quantile, summed):
- prefill: M/D/1 in front of the prefill work (Kleinrock, Queueing Systems vol. 1, §5.6), rho = rate x P1:
    W_mean = rho / (2 (1 - rho)) x P1;  p-quantile from the exponential tail W(p) = P1 / (1 - rho) x
    ln(rho / (1 - p));
- admission: the replica has c = admissible-batch slots, each busy for e2e; near capacity arrivals wait for
  a slot. Halfin-Whitt's many-server approximation of Erlang C (Halfin & Whitt 1981):
    beta = (1 - u) sqrt(c), u = rate / capacity,  P(wait) = 1 / (1 + beta Phi(beta) / phi(beta)),
    W(p) = ln(P(wait) / (1 - p)) / (capacity - rate) when P(wait) > 1 - p, mean P(wait) / (capacity - rate);
  it grows without bound as the rate reaches capacity.
TPOT p99: the decode step at the 99th percentile of the in-flight count (Poisson, b + 2.326 sqrt(b), at most
the admissible batch), stretched by the same prefill share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from calculator.columns import Array
from calculator.engine import ConfigBatch
from calculator.performance import decode_step_time_s, prefill_time_s

CAPACITY_GRID_POINTS = 12
"""In-flight counts tried for the capacity (geometric from 1 to the admissible batch)."""
BISECTION_STEPS = 30
"""Steps of the search for the in-flight count that carries an offered rate (log scale: 2^-30 resolution)."""
Z99 = 2.3263478740408408
"""Standard normal 99th percentile."""


@dataclass(frozen=True, kw_only=True)
class OnlineColumns:
    concurrency: Array
    """Requests in flight on one replica (at least 1: a lightly loaded server runs batch-1 steps)."""
    ttft_p50_s: Array
    ttft_p90_s: Array
    ttft_p99_s: Array
    ttft_mean_s: Array
    tpot_s: Array
    tpot_p99_s: Array
    e2e_latency_s: Array
    e2e_p90_s: Array
    e2e_p99_s: Array
    output_tokens_per_s: Array
    requests_per_s: Array
    """Served rate: the offered rate, or the capacity when saturated."""
    capacity_requests_per_s: Array
    """The largest rate one replica sustains (its saturation point)."""
    utilization: Array
    """Served rate / capacity."""
    saturated: Array
    """The offered rate exceeds what the replica can serve: the queue grows without bound."""


class ReplicaModel:
    """The serving terms of each configuration of `batch` (one replica each), with its capacity found once.

    `rate_at(b)` is the rate sustained at in-flight count b; `at_rate(rate)` the operating point serving an
    offered rate; `at_batch(b)` the operating point at in-flight count b on the sustainable curve (what the
    SLO search walks along)."""

    def __init__(
        self,
        batch: ConfigBatch,
        max_batch: Array,
        *,
        grid_points: int = CAPACITY_GRID_POINTS,
        bisection_steps: int = BISECTION_STEPS,
    ):
        self.bisection_steps = bisection_steps
        """Steps of every search along the load curve (fewer in bulk comparisons: 2^-steps of the range)."""
        self.batch = batch
        m, h, p, f, w, e = (
            batch.model,
            batch.hardware,
            batch.precision,
            batch.framework,
            batch.workload,
            batch.efficiency,
        )
        self.cap = np.maximum(np.asarray(max_batch, dtype=np.float64), 1.0)
        self.mean_context = w.prompt_tokens + w.output_tokens / 2.0
        self.lone_prefill = prefill_time_s(m, h, p, f, w, e, np.ones_like(self.cap))
        self.steps = np.maximum(w.output_tokens - 1.0, 0.0) * np.ones_like(self.cap)
        self.output_tokens = w.output_tokens * np.ones_like(self.cap)
        self._prepare()
        best_rate = np.zeros_like(self.cap)
        best_b = np.ones_like(self.cap)
        for k in range(grid_points):
            b = self.cap ** (k / max(grid_points - 1, 1))
            rate = self.rate_at(b)
            better = rate > best_rate * (1.0 + 1e-12)
            best_rate = np.where(better, rate, best_rate)
            best_b = np.where(better, b, best_b)
        self.capacity = best_rate
        self.best_batch = best_b

    def _prepare(self) -> None:
        """Hook run before the capacity search (TabulatedReplicaModel builds its table here)."""

    def decode_step(self, b: Array) -> Array:
        x = self.batch
        return decode_step_time_s(
            x.model, x.hardware, x.precision, x.framework, x.workload, x.efficiency, b, self.mean_context
        )

    def prefill_per_request(self, b: Array) -> Array:
        x = self.batch
        return prefill_time_s(x.model, x.hardware, x.precision, x.framework, x.workload, x.efficiency, b) / b

    def rate_at(self, b: Array) -> Array:
        """Sustainable rate at in-flight count b (the closed form in the module docstring)."""
        p1, pb, sd = self.lone_prefill, self.prefill_per_request(b), self.steps * self.decode_step(b)
        big_b = p1 + sd + b * pb
        root = np.sqrt(np.maximum(big_b * big_b - 4.0 * p1 * pb * b, 0.0))
        return 2.0 * b / np.maximum(big_b + root, 1e-30)

    def batch_for_rate(self, rate: Array) -> Array:
        """The smallest in-flight count in [1, best batch] whose sustainable rate reaches `rate` (bisection in
        log b; 1 when even a batch of one keeps up)."""
        lo = np.zeros_like(self.cap)
        hi = np.log(self.best_batch)
        for _ in range(self.bisection_steps):
            mid = 0.5 * (lo + hi)
            below = self.rate_at(np.exp(mid)) < rate
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return np.where(self.rate_at(np.ones_like(self.cap)) >= rate, 1.0, np.exp(hi))

    def at_rate(self, request_rate: Array, *, prefill_queue: bool = True) -> OnlineColumns:
        offered = np.maximum(np.asarray(request_rate, dtype=np.float64), 0.0) * np.ones_like(self.cap)
        saturated = offered >= self.capacity * (1.0 - 1e-9)
        served = np.where(saturated, self.capacity, offered)
        b = np.where(saturated, self.best_batch, self.batch_for_rate(np.where(saturated, 0.0, offered)))
        return self.point_at(b, served, saturated, prefill_queue=prefill_queue)

    def at_batch(self, b: Array) -> OnlineColumns:
        """The operating point at in-flight count b (clipped to [1, best batch]) on the sustainable curve."""
        b = np.clip(b, 1.0, self.best_batch)
        rate = np.minimum(self.rate_at(b), self.capacity)
        return self.point_at(b, rate, rate >= self.capacity * (1.0 - 1e-9))

    def point_at(
        self, b: Array, rate: Array, saturated: Array, *, prefill_queue: bool = True
    ) -> OnlineColumns:
        """The operating point serving `rate` with b requests in flight (b from `batch_for_rate`, or 1 for
        rates a batch of one carries)."""
        rho_prefill = np.clip(rate * self.prefill_per_request(b), 0.0, 0.999)
        stretch = 1.0 / (1.0 - rho_prefill)
        tpot = self.decode_step(b) * stretch
        p1 = self.lone_prefill
        # In-flight count by Little's law (may be below 1 at light load), its 99th percentile (Poisson).
        in_flight = rate * (p1 + self.steps * tpot)
        b99 = np.clip(in_flight + Z99 * np.sqrt(in_flight), 1.0, self.best_batch)
        tpot_p99 = np.maximum(self.decode_step(b99) * stretch, tpot)
        if prefill_queue:
            p50, p90, p99, mean = _prefill_waits(rate * p1, p1)
        else:
            p50 = p90 = p99 = mean = np.zeros_like(rate)
        a50, a90, a99, amean = _admission_waits(rate, self.capacity, self.best_batch)
        unbounded = np.where(saturated, np.inf, 0.0)
        ttft_mean = p1 + mean + amean + unbounded
        ttft_p90 = p1 + p90 + a90 + unbounded
        ttft_p99 = p1 + p99 + a99 + unbounded
        # TPOT at the p90 in-flight count: between the mean and the p99 (1.2816 / 2.3263 of the way).
        tpot_p90 = tpot + (tpot_p99 - tpot) * (1.2815515655446004 / Z99)
        return OnlineColumns(
            concurrency=b,
            ttft_p50_s=p1 + p50 + a50 + unbounded,
            ttft_p90_s=ttft_p90,
            ttft_p99_s=ttft_p99,
            ttft_mean_s=ttft_mean,
            tpot_s=tpot,
            tpot_p99_s=tpot_p99,
            e2e_latency_s=ttft_mean + self.steps * tpot,
            e2e_p90_s=ttft_p90 + self.steps * tpot_p90,
            e2e_p99_s=ttft_p99 + self.steps * tpot_p99,
            output_tokens_per_s=rate * self.output_tokens,
            requests_per_s=rate,
            capacity_requests_per_s=self.capacity,
            utilization=np.where(self.capacity > 0, rate / np.maximum(self.capacity, 1e-30), 1.0),
            saturated=saturated,
        )


class TabulatedReplicaModel(ReplicaModel):
    """The bulk comparisons' fast path: one decode step D(b) and the prefill per request P(b) / b are computed
    exactly at `table_points` in-flight counts (geometric from 1 to the admissible batch) and interpolated
    linearly in b between them (both are piecewise linear in b for dense models: a roofline max of affine
    terms), so the searches along the load curve cost array arithmetic instead of engine evaluations.
    Rows must be one configuration each (a flat batch)."""

    def __init__(self, batch: ConfigBatch, max_batch: Array, *, table_points: int = 10, **kwargs: int):
        self.table_points = table_points
        super().__init__(batch, max_batch, **kwargs)

    def _prepare(self) -> None:
        k, n = self.table_points, self.cap.size
        self._log_cap = np.log(self.cap)
        grid = np.array([self.cap ** (i / (k - 1)) for i in range(k)])
        decode = np.array([ReplicaModel.decode_step(self, b) for b in grid])
        prefill = np.array([ReplicaModel.prefill_per_request(self, b) for b in grid])
        width = np.maximum(np.diff(grid, axis=0), 1e-30)
        # Flat per-segment tables (segment i of row j at i x n + j): start, value there, slope.
        self._start = grid[:-1].reshape(-1)
        self._decode = (decode[:-1].reshape(-1), (np.diff(decode, axis=0) / width).reshape(-1))
        self._prefill = (prefill[:-1].reshape(-1), (np.diff(prefill, axis=0) / width).reshape(-1))
        self._columns = np.arange(n)
        self._last: tuple[Array, Array, Array] | None = None

    def _segment(self, b: Array) -> tuple[Array, Array]:
        """(flat segment index, b clipped to [1, cap]) for each row; the last query is remembered, since the
        decode step and the prefill are asked for the same in-flight counts."""
        if self._last is not None and self._last[0] is b:
            return self._last[1], self._last[2]
        k = self.table_points
        clipped = np.clip(np.broadcast_to(b, self.cap.shape), 1.0, self.cap)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(self._log_cap > 0, np.log(clipped) / self._log_cap * (k - 1), 0.0)
        index = np.clip(x.astype(np.intp), 0, k - 2) * self.cap.size + self._columns
        self._last = (b, index, clipped)
        return index, clipped

    def _interpolate(self, table: tuple[Array, Array], b: Array) -> Array:
        index, clipped = self._segment(b)
        value, slope = table
        return value.take(index) + slope.take(index) * (clipped - self._start.take(index))

    def decode_step(self, b: Array) -> Array:
        return self._interpolate(self._decode, b)

    def prefill_per_request(self, b: Array) -> Array:
        return self._interpolate(self._prefill, b)


def _prefill_waits(rho: Array, service_s: Array) -> tuple[Array, Array, Array, Array]:
    """M/D/1 waits (p50, p90, p99, mean) in front of the prefill work."""
    rho = np.clip(rho, 0.0, 0.999)
    mean = rho / (2.0 * (1.0 - rho)) * service_s

    def tail(p: float) -> Array:
        return np.where(
            rho > 1.0 - p, service_s / (1.0 - rho) * np.log(np.maximum(rho, 1e-300) / (1.0 - p)), 0.0
        )

    return tail(0.5), tail(0.9), tail(0.99), mean


def _admission_waits(rate: Array, capacity: Array, slots: Array) -> tuple[Array, Array, Array, Array]:
    """Waits (p50, p90, p99, mean) for one of `slots` in-flight places (Halfin-Whitt, module docstring)."""
    headroom = np.maximum(capacity - rate, 0.0)
    u = np.where(capacity > 0, rate / np.maximum(capacity, 1e-30), 1.0)
    beta = np.broadcast_to(np.maximum(1.0 - u, 0.0) * np.sqrt(slots), np.shape(headroom))
    # Beyond beta = 6 the chance of waiting is below 1e-9: left at 0 (computed only where it counts).
    p_wait = np.zeros(np.shape(beta))
    near = beta < 6.0
    b = beta[near]
    p_wait[near] = 1.0 / (1.0 + b * ndtr(b) * np.sqrt(2.0 * np.pi) * np.exp(b * b / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(headroom > 0, 1.0 / headroom, np.inf)

        def tail(p: float) -> Array:
            return np.where(p_wait > 1.0 - p, np.log(np.maximum(p_wait, 1e-300) / (1.0 - p)) * inv, 0.0)

        mean = np.where(p_wait > 0, p_wait * inv, 0.0)
    return tail(0.5), tail(0.9), tail(0.99), mean


def replica_capacity(batch: ConfigBatch, max_batch: Array) -> tuple[Array, Array]:
    """(capacity requests/s, in-flight count at capacity) of one replica of each configuration."""
    model = ReplicaModel(batch, max_batch)
    return model.capacity, model.best_batch


def online_operating_point(
    batch: ConfigBatch,
    max_batch: Array,
    *,
    request_rate: Array | None = None,
    concurrency: Array | None = None,
    iterations: int = 40,
) -> OnlineColumns:
    """Serve at `request_rate` requests/s (open loop, one replica) or keep `concurrency` requests in flight
    (closed loop)."""
    replica = ReplicaModel(batch, max_batch)
    if concurrency is None:
        return replica.at_rate(np.asarray(request_rate, dtype=np.float64))
    # Closed loop: N in flight, each sends its next request when the last one finishes. The in-flight count
    # is N (at most the admissible batch; the rest wait for a slot); the rate solves rate = b / e2e(b, rate).
    wanted = np.asarray(concurrency, dtype=np.float64) * np.ones_like(replica.cap)
    b = np.minimum(wanted, replica.cap)
    rate = np.zeros_like(b)
    p1, steps = replica.lone_prefill, replica.steps
    decode, per_request = replica.decode_step(b), replica.prefill_per_request(b)
    for _ in range(iterations):
        rho = np.clip(rate * per_request, 0.0, 0.95)
        e2e = p1 + steps * decode / (1.0 - rho)
        previous, rate = rate, 0.5 * (rate + b / e2e)  # damped: the undamped map oscillates near saturation
        if np.allclose(previous, rate, rtol=1e-3):
            break
    rho = np.clip(rate * per_request, 0.0, 0.95)
    tpot = decode / (1.0 - rho)
    queued = np.maximum(wanted - b, 0.0)
    queue_wait = queued / np.maximum(rate, 1e-12)
    p50, p90, p99, mean = _prefill_waits(rate * p1, p1)
    ttft_mean = p1 + mean + queue_wait
    ttft_p90 = p1 + p90 + queue_wait
    ttft_p99 = p1 + p99 + queue_wait
    return OnlineColumns(
        concurrency=b,
        ttft_p50_s=p1 + p50 + queue_wait,
        ttft_p90_s=ttft_p90,
        ttft_p99_s=ttft_p99,
        ttft_mean_s=ttft_mean,
        tpot_s=tpot,
        tpot_p99_s=tpot,
        e2e_latency_s=ttft_mean + steps * tpot,
        e2e_p90_s=ttft_p90 + steps * tpot,
        e2e_p99_s=ttft_p99 + steps * tpot,
        output_tokens_per_s=rate * replica.output_tokens,
        requests_per_s=rate,
        capacity_requests_per_s=replica.capacity,
        utilization=np.where(replica.capacity > 0, rate / np.maximum(replica.capacity, 1e-30), 1.0),
        saturated=queued > 0,
    )


EULER_GAMMA = 0.5772156649015329
BURST_NODES = 16
"""Quadrature nodes over the shrinking batch of a burst (midpoint rule in log-survival)."""


def harmonic_number(n: Array) -> Array:
    """H_n = 1 + 1/2 + ... + 1/n (asymptotic series; exact to 1e-3 at n = 1)."""
    n = np.maximum(n, 1.0)
    return np.log(n) + EULER_GAMMA + 1.0 / (2.0 * n) - 1.0 / (12.0 * n * n)


def _burst_drain(
    step_time: Callable[[Array], Array], n: Array, full_step: Array, cv: Array, steps: Array
) -> tuple[Array, Array]:
    """Decode phase of n requests that start decoding together, output lengths L = mu' x ((1 - cv) + cv x E),
    E ~ Exp(1), mu' = `steps` decode steps on average. The batch shrinks as requests finish: b(l) = n x S(l),
    S the survival of L. Substituting u = ln S (dl = cv mu' du on the exponential part), the longest request
    ends at
        D_max = (1 - cv) mu' s(n) + cv mu' int_{-H_n}^{0} s(n e^u) du
    (H_n: expected maximum of n unit exponentials), and the token-weighted mean gap is
        sum over steps of b s(b) / sum over steps of b.
    s(b) = `step_time(b)`, one decode step at batch b; `full_step` = s(n). Returns (D_max, token-weighted
    step time)."""
    width = harmonic_number(n) / BURST_NODES
    tail_time, weighted, weight = np.zeros_like(n), np.zeros_like(n), np.zeros_like(n)
    for k in range(BURST_NODES):
        u = -(k + 0.5) * width
        b = np.maximum(n * np.exp(u), 1.0)
        s = step_time(b)
        tail_time = tail_time + s * width
        weighted = weighted + b * s * width
        weight = weight + b * width
    d_max = steps * ((1.0 - cv) * full_step + cv * tail_time)
    token_weighted = ((1.0 - cv) * n * full_step + cv * weighted) / np.maximum(
        (1.0 - cv) * n + cv * weight, 1e-12
    )
    return d_max, token_weighted


def _prefill_phase_gap_s(
    remaining_max: Array, steps: Array, step: Array, iteration: Array, mixes: Array
) -> Array:
    """Mean gap time a request spends, beyond its decode steps, while the prompts after its own are
    prefilled; the remaining prefill R is uniform on [0, remaining_max].
    Prefill first (decode paused): the first gap is R, so E = remaining_max / 2.
    Mixed iterations (a chunk of max_num_batched_tokens of prompts beside every decode step): the request
    decodes during R at one token per iteration, so of its steps x iteration it spends min(a, R) there
    instead of at the pure decode step: E = E[min(a, R)] x (1 - step / iteration), a = steps x iteration,
    E[min(a, R)] = remaining_max / 2 when a >= remaining_max, else a - a^2 / (2 remaining_max)."""
    stalled = remaining_max / 2.0
    a = steps * iteration
    r = np.maximum(remaining_max, 1e-12)
    within = np.where(a >= r, r / 2.0, a - a * a / (2.0 * r))
    mixed = within * np.clip(1.0 - step / np.maximum(iteration, 1e-12), 0.0, 1.0)
    return np.where(mixes > 0, mixed, stalled)


def burst_operating_point(
    batch: ConfigBatch, max_batch: Array, *, requests: Array, output_length_cv: Array | float = 0.0
) -> OnlineColumns:
    """`requests` requests sent at once (a benchmark's "request rate inf" with a fixed prompt count), output
    lengths with coefficient of variation `output_length_cv` (0 = fixed; 1 = exponential, about ShareGPT's).

    Up to `max_batch` are admitted together: all prompts are prefilled first (TTFT of the i-th of n is
    i/n x prefill(n)), then all decode while the batch drains as requests finish (_burst_drain). Requests
    beyond the cap wait for a slot; they are served at the closed-loop rate of a full batch first:
        T = (N - cap) x e2e(cap) / cap + prefill(cap) + D_max(cap)
    Output tokens/s = N x output / T. TPOT is the token-weighted inter-token gap (what benchmark clients
    report as mean ITL), including the time each request waits on the prefills after its own
    (_prefill_phase_gap_s)."""
    m, h, p, f, w, e = (
        batch.model,
        batch.hardware,
        batch.precision,
        batch.framework,
        batch.workload,
        batch.efficiency,
    )
    n_total = np.maximum(np.asarray(requests, dtype=np.float64), 1.0)
    cap = np.maximum(max_batch, 1.0)
    n = np.minimum(n_total, cap)
    cv = np.clip(np.asarray(output_length_cv, dtype=np.float64), 0.0, 1.0) * np.ones_like(n)
    context = w.prompt_tokens + w.output_tokens / 2.0
    steps = np.maximum(w.output_tokens - 1.0, 0.0)
    prefill = prefill_time_s(m, h, p, f, w, e, n)
    full_step = decode_step_time_s(m, h, p, f, w, e, n, context)
    d_max, step = _burst_drain(
        lambda b: decode_step_time_s(m, h, p, f, w, e, b, context), n, full_step, cv, steps
    )
    chunk_prompts = f.max_num_batched_tokens / np.maximum(w.prompt_tokens, 1.0)
    iteration = prefill_time_s(m, h, p, f, w, e, chunk_prompts) + full_step
    extra = _prefill_phase_gap_s(
        prefill * (n - 1.0) / n, steps, full_step, iteration, f.mixes_prefill_and_decode
    )
    burst_tpot = np.where(steps > 0, step + extra / np.maximum(steps, 1.0), 0.0)
    burst_ttft_mean = prefill * (n + 1.0) / (2.0 * n)
    # Requests beyond the cap: a full batch served closed-loop first (solved only when some burst queues).
    queued = n_total - n
    share = queued / n_total
    if np.any(queued > 0):
        closed = online_operating_point(batch, cap, concurrency=n)
        queue_s = queued * closed.e2e_latency_s / n
        tpot = share * closed.tpot_s + (1.0 - share) * burst_tpot
    else:
        queue_s, tpot = np.zeros_like(n), burst_tpot
    total_s = queue_s + prefill + d_max
    ttft_mean = burst_ttft_mean + share * queue_s / 2.0
    ttft_p90 = 0.9 * (queue_s + prefill)
    ttft_p99 = 0.99 * (queue_s + prefill)
    return OnlineColumns(
        concurrency=n,
        ttft_p50_s=0.5 * (queue_s + prefill),
        ttft_p90_s=ttft_p90,
        ttft_p99_s=ttft_p99,
        ttft_mean_s=ttft_mean,
        tpot_s=tpot,
        tpot_p99_s=tpot,
        e2e_latency_s=ttft_mean + steps * tpot,
        e2e_p90_s=ttft_p90 + steps * tpot,
        e2e_p99_s=ttft_p99 + steps * tpot,
        output_tokens_per_s=n_total * w.output_tokens / total_s,
        requests_per_s=n_total / total_s,
        capacity_requests_per_s=np.full_like(n, np.nan),
        utilization=np.full_like(n, np.nan),
        saturated=queued > 0,
    )
