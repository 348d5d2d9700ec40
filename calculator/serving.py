"""Online serving: requests arriving at a rate (or a fixed concurrency) on a continuous-batching server.

Operating point by Little's law: concurrency B = rate x e2e(B), solved by fixed-point iteration (e2e grows
with B, so the iteration is monotone). Prefills interrupt decoding, so each decode step is stretched by the
share of time spent prefilling: TPOT_online = TPOT(B) / (1 - rho_prefill), rho_prefill = rate x
prefill_time(B) / B.
Concurrent prefills are batched, so each request costs prefill(B prompts) / B of device time.
TTFT waits in an M/D/1 queue in front of the prefill work (Kleinrock, Queueing Systems vol. 1, §5.6):
    W_mean = rho / (2 (1 - rho)) x S;  p99 from the exponential tail  W_q(p) = S / (1 - rho) x ln(rho /
    (1 - p)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calculator.columns import Array
from calculator.engine import ConfigBatch
from calculator.performance import decode_step_time_s, prefill_time_s


@dataclass(frozen=True, kw_only=True)
class OnlineColumns:
    concurrency: Array
    ttft_p50_s: Array
    ttft_p99_s: Array
    ttft_mean_s: Array
    tpot_s: Array
    e2e_latency_s: Array
    output_tokens_per_s: Array
    requests_per_s: Array
    saturated: Array
    """The offered rate exceeds what the largest batch that fits can serve: queues grow without bound."""


def _waits(rho: Array, service_s: Array) -> tuple[Array, Array, Array]:
    rho = np.clip(rho, 0.0, 0.999)
    mean = rho / (2.0 * (1.0 - rho)) * service_s

    def tail(p: float) -> Array:
        return np.where(rho > 1.0 - p, service_s / (1.0 - rho) * np.log(rho / (1.0 - p)), 0.0)

    return tail(0.5), tail(0.99), mean


def online_operating_point(
    batch: ConfigBatch,
    max_batch: Array,
    *,
    request_rate: Array | None = None,
    concurrency: Array | None = None,
    iterations: int = 40,
) -> OnlineColumns:
    """Serve at `request_rate` requests/s (open loop) or keep `concurrency` requests in flight (closed
    loop)."""
    m, h, p, w, e = batch.model, batch.hardware, batch.precision, batch.workload, batch.efficiency
    f = batch.framework
    n = len(batch)
    cap = np.maximum(max_batch, 1.0)
    mean_context = w.prompt_tokens + w.output_tokens / 2.0
    lone_prefill = prefill_time_s(m, h, p, f, w, e, np.ones(n))
    decode_steps = np.maximum(w.output_tokens - 1.0, 0.0)

    def e2e_at(b: Array, rate: Array) -> tuple[Array, Array, Array]:
        # Prefills of concurrent arrivals are batched: each costs prefill(b prompts) / b of device time.
        per_request_prefill = prefill_time_s(m, h, p, f, w, e, b) / b
        rho_prefill = np.clip(rate * per_request_prefill, 0.0, 0.95)
        tpot = decode_step_time_s(m, h, p, f, w, e, b, mean_context) / (1.0 - rho_prefill)
        return lone_prefill + decode_steps * tpot, tpot, rho_prefill

    if concurrency is not None:
        b = np.minimum(np.asarray(concurrency, dtype=np.float64), cap)
        rate = np.zeros(n)
        for _ in range(iterations):
            e2e, tpot, _ = e2e_at(b, rate)
            previous, rate = (
                rate,
                0.5 * (rate + b / e2e),
            )  # damped: the undamped map oscillates near saturation
            if np.allclose(previous, rate, rtol=1e-3):
                break
        queued = np.maximum(np.asarray(concurrency, dtype=np.float64) - b, 0.0)
        queue_wait = queued / np.maximum(rate, 1e-12)
        p50, p99, mean = _waits(rate * lone_prefill, lone_prefill)
        ttft_extra = queue_wait
        saturated = queued > 0
    else:
        rate = np.asarray(request_rate, dtype=np.float64)
        b = np.ones(n)
        for _ in range(iterations):
            e2e, tpot, _ = e2e_at(b, rate)
            previous, b = b, np.clip(rate * e2e, 1.0, cap)
            if np.allclose(previous, b, rtol=1e-3):
                break
        e2e, tpot, _ = e2e_at(b, rate)
        capacity = b / e2e
        saturated = rate > capacity * 1.0001
        p50, p99, mean = _waits(rate * lone_prefill, lone_prefill)
        ttft_extra = np.where(saturated, np.inf, 0.0)
        rate = np.minimum(rate, capacity)

    e2e, tpot, _ = e2e_at(b, rate)
    ttft_mean = lone_prefill + mean + ttft_extra
    return OnlineColumns(
        concurrency=b,
        ttft_p50_s=lone_prefill + p50 + ttft_extra,
        ttft_p99_s=lone_prefill + p99 + ttft_extra,
        ttft_mean_s=ttft_mean,
        tpot_s=tpot,
        e2e_latency_s=ttft_mean + decode_steps * tpot,
        output_tokens_per_s=rate * w.output_tokens,
        requests_per_s=rate,
        saturated=saturated,
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
    return OnlineColumns(
        concurrency=n,
        ttft_p50_s=0.5 * (queue_s + prefill),
        ttft_p99_s=0.99 * (queue_s + prefill),
        ttft_mean_s=ttft_mean,
        tpot_s=tpot,
        e2e_latency_s=ttft_mean + steps * tpot,
        output_tokens_per_s=n_total * w.output_tokens / total_s,
        requests_per_s=n_total / total_s,
        saturated=queued > 0,
    )
