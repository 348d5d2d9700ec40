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
