"""Online serving: requests arriving at a rate (or a fixed concurrency) on a continuous-batching server.

Everything is parametrised by the in-flight count b (requests admitted, 1 <= b <= the admissible batch). At
in-flight count b a replica spends prefill(b) / b of device time per request (concurrent prompts are batched)
and decode steps of D(b). Both phases are rooflines, the larger of a compute line and a memory line
(performance.PhaseLines). Where prompts are prefilled in passes of their own (decoding pauses), any prefill
time adds to the decode time:
    TPOT(b, rate) = D(b) / (1 - rate x prefill(b) / b) = max over line pairs (i, j) of D_j / (1 - rate P_i/b).
Where chunks of prompts ride on the decode steps (vLLM V1, TensorRT-LLM in-flight batching:
`mixes_prefill_and_decode`) a mixed step is one roofline: its compute line carries both phases' FLOPs, its
memory line reads the weights once, so only like lines add (Sarathi-Serve, Agrawal et al. OSDI 2024: chunks
"piggyback" on memory-bound decode steps):
    TPOT(b, rate) = max(Dc(b) / (1 - rate Pc(b) / b), Dm(b) / (1 - rate Pm'(b) / b)),
Pm' the prefill's memory line without the weights (its KV writes and fixed costs). A moderate prompt load then
costs a memory-bound decode almost nothing, as the measured TPOT of a vLLM server at rising request rates
shows (serving.csv, simreal-trainval).
    e2e(b, rate) = prefill(1) + (output - 1) x TPOT(b, rate).
Little's law b = rate x e2e gives the rate a replica sustains at in-flight count b in closed form on each pair
(D, P) (the smaller root of P1 Pb r^2 - (P1 + s D + b Pb) r + b = 0, P1 = prefill(1), Pb = P / b,
s = output - 1):
    rate(b) = 2 b / (B + sqrt(B^2 - 4 P1 Pb b)),   B = P1 + s D + b Pb   (so rate Pb < 1 always),
and the smallest over the pairs (TPOT is their largest).
rate(b) grows with b: by the implicit function theorem on b = r e2e(b, r), dr/db > 0 iff
r s D'(b) / (1 - r Pb) < 1, and every phase line (affine with a non-negative intercept, or the routed-expert
memory line, concave with D(0) >= 0) has D(b) >= b D'(b), so
r s D'(b) / (1 - r Pb) <= r s D(b) / (b (1 - r Pb)) < r e2e / b = 1 (Pb = a / b + c only falls with b).
The replica's capacity, the largest sustainable rate over the admissible batches (`replica_capacity`), is
therefore rate(admissible batch) (a property test checks it on 400 in-flight counts); an offered rate is
served at the in-flight count whose rate(b) equals it (`online_operating_point`), so served rate, batch, TPOT
and every latency grow with the offered rate; above capacity the replica is saturated: it serves its capacity
and the queue in front of it grows without bound (infinite TTFT, None in JSON).

TTFT waits in two queues (each an upper-bound quantile, summed):
- prefill: M/D/1 in front of the prefill work (Kleinrock, Queueing Systems vol. 1, §5.6), rho = rate x P1:
    W_mean = rho / (2 (1 - rho)) x P1;  p-quantile from the exponential tail W(p) = P1 / (1 - rho) x
    ln(rho / (1 - p));
- admission: the replica has c = admissible-batch slots; near capacity arrivals wait for a slot. The
  in-flight count N is a birth-death chain: arrivals at `rate`, departures at d(n) = rate(n), the rate n
  requests in flight sustain (Little's law on the curve, n / e2e(n)), d(c) = capacity beyond c (Erlang C
  with a departure rate that saturates as the step slows with the batch; d(n) = n / S gives M/M/c). Its
  stationary law P(n) ~ prod over k <= n of rate / d(k) peaks at the operating count b (d(b) = rate):
    P(wait) = P(N >= c) = E / (Z + E),  E = exp(T) / (1 - rate / capacity),
    T = sum over b < k <= c of ln(rate / d(k))  (Gauss-Legendre),
    Z = sqrt(2 pi rate / d'(b)) Phi((c - b) / sqrt(rate / d'(b)))  (Laplace, about b),
  both relative to P(b). (Halfin-Whitt's beta = (1 - rate / capacity) sqrt(c) before priced every slot at
  the full batch's e2e: Llama 2 7B at 1 req/s on an H100, simreal, about 20 of 47 slots busy, waited 154
  ms on average for a 55 ms TTFT.) Once every slot is busy the replica drains at its capacity:
    W(p) = ln(P(wait) / (1 - p)) / (capacity - rate) when P(wait) > 1 - p, mean P(wait) / (capacity - rate);
  it grows without bound as the rate reaches capacity.
TPOT p99: the decode step at the 99th percentile of the in-flight count (Poisson, b + 2.326 sqrt(b), at most
the admissible batch), stretched by the same prefill share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_ndtr
from scipy.special import ndtri as ndtr_inverse

from calculator.columns import Array
from calculator.engine import ConfigBatch
from calculator.memory import kv_bytes_per_sequence
from calculator.performance import decode_step_terms, decode_step_time_s, prefill_terms, prefill_time_s

ROOT_ITERATIONS = 30
SLOPE_STEP = 1e-4
"""Relative step of the backward difference that gives the departure rate's slope d'(b) (admission)."""
ADMISSION_NODES = np.polynomial.legendre.leggauss(4)
"""Gauss-Legendre nodes and weights on [-1, 1] for the admission chain's log-probability from b to c."""
ADMISSION_NEGLIGIBLE = -50.0
"""ln P(wait) below which the admission chance is 0 (e^-50 ~ 2e-22)."""
"""Steps of every search along the load curve (`bracket_root`: regula falsi, Anderson-Bjorck variant)."""
CLOSED_LOOP_PROMPTS_PER_CLIENT = 10.0
"""Prompts a fixed-concurrency benchmark sends per client (vLLM's benchmark_serving / InferenceX:
--num-prompts 10 x --max-concurrency): the first tenth arrive together."""
STEADY_STEPS = 1.5
"""Decode steps a steady-state arrival waits before its first token besides its prefill: the rest of the
running step (half, on average) and the step its prefill shares with the batch's decode."""
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
    SLO search walks along); `latencies` the same figures one column at a time (what a search evaluates)."""

    def __init__(
        self,
        batch: ConfigBatch,
        max_batch: Array,
        *,
        root_iterations: int = ROOT_ITERATIONS,
        rows: np.ndarray | None = None,
        shape: tuple[int, ...] = (),
    ):
        """`rows`: keep only the configurations at these flat indices of a grid batch of `shape` (narrowed to
        what can run; `max_batch` is then given for those rows alone). The phase terms are computed at the
        grid's broadcast shapes and gathered, never evaluated row by row."""
        self.root_iterations = root_iterations
        """Evaluations of every search along the load curve (fewer in bulk comparisons)."""
        m, h, p, f, w, e = (
            batch.model,
            batch.hardware,
            batch.precision,
            batch.framework,
            batch.workload,
            batch.efficiency,
        )
        self.cap = np.maximum(np.asarray(max_batch, dtype=np.float64), 1.0)
        # Each phase's terms once; every in-flight count after that is array arithmetic (PhaseTerms).
        self.decode_terms = decode_step_terms(
            m, h, p, f, w, e, w.prompt_tokens + w.output_tokens / 2.0
        ).compact()
        self.prefill_terms = prefill_terms(m, h, p, f, w, e).compact()
        output = w.output_tokens
        if rows is not None:
            self.decode_terms = self.decode_terms.take(rows, shape)
            self.prefill_terms = self.prefill_terms.take(rows, shape)
            output = np.broadcast_to(output, shape).reshape(-1)[rows]
        mixing = np.asarray(f.mixes_prefill_and_decode, dtype=np.float64)
        if rows is not None:
            mixing = np.broadcast_to(mixing, shape).reshape(-1)[rows]
        self.mixing = (mixing * np.ones_like(self.cap)) > 0
        """Chunks of prompts ride on the decode steps (module docstring): only like roofline lines add."""
        prompt, budget = w.prompt_tokens, f.max_num_batched_tokens
        if rows is not None:
            prompt = np.broadcast_to(prompt, shape).reshape(-1)[rows]
            budget = np.broadcast_to(budget, shape).reshape(-1)[rows]
        self.prompt_tokens = prompt * np.ones_like(self.cap)
        self.token_budget = np.maximum(budget * np.ones_like(self.cap), 1.0)
        self.lone_prefill = self.prefill_terms.time_s(np.ones_like(self.cap))
        self.prompt_compute = self.prefill_terms.compute_time_s(np.ones_like(self.cap))
        """A lone prompt's compute line (what it adds to a mixed step)."""
        self.steps = np.maximum(output - 1.0, 0.0) * np.ones_like(self.cap)
        self.output_tokens = output * np.ones_like(self.cap)
        # rate(b) grows with b (module docstring), so the admissible batch carries the most.
        self.capacity = self.rate_at(self.cap)
        self.best_batch = self.cap

    def subset(self, index: np.ndarray) -> ReplicaModel:
        """The same replicas restricted to the rows at flat `index` (a search narrows to the rows it has not
        settled)."""
        shape = np.shape(self.capacity)
        if len(shape) == 1 and np.size(index) == shape[0]:
            return self  # every row, in order (indices come from np.flatnonzero)
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        names = ("cap", "mixing", "prompt_tokens", "token_budget", "lone_prefill", "prompt_compute", "steps")
        names = (*names, "output_tokens")
        for name in (*names, "capacity", "best_batch"):
            setattr(out, name, np.broadcast_to(getattr(self, name), shape).reshape(-1)[index])
        out.decode_terms = self.decode_terms.take(index, shape)
        out.prefill_terms = self.prefill_terms.take(index, shape)
        return out

    def decode_step(self, b: Array) -> Array:
        return self.decode_terms.time_s(b)

    def prefill_per_request(self, b: Array) -> Array:
        return self.prefill_terms.time_s(b) / b

    def _pairs_at(self, b: Array, decode: tuple[Array, Array] | None = None) -> list[tuple[Array, Array]]:
        """(decode step, prefill time per request) at in-flight count b for each pairing of the phases'
        roofline lines that counts (module docstring): where prompts are prefilled in passes of their own the
        larger line of each phase (the largest of the four pairings), where chunks ride on the decode steps
        the like lines (compute with compute; memory with the prompts' memory line less the weights).
        `decode`: the decode step's (compute, memory) lines at b when already known."""
        d, p = self.decode_terms, self.prefill_terms
        dc, dm = decode if decode is not None else (d.compute_time_s(b), d.memory_time_s(b))
        pc = p.compute_time_s(b) / b
        if np.all(self.mixing):
            return [(dc, pc), (dm, (p.compute_fixed_s + b * p.memory_per_sequence_s) / b)]
        pm_alone = p.memory_time_s(b) / b
        if not np.any(self.mixing):
            return [(np.maximum(dc, dm), np.maximum(pc, pm_alone))]
        pm_mixed = (p.compute_fixed_s + b * p.memory_per_sequence_s) / b
        # Rows that do not mix take their largest pairing in the first slot and repeat it in the second.
        first = (
            np.where(self.mixing, dc, np.maximum(dc, dm)),
            np.where(self.mixing, pc, np.maximum(pc, pm_alone)),
        )
        second = (np.where(self.mixing, dm, first[0]), np.where(self.mixing, pm_mixed, first[1]))
        return [first, second]

    def tpot_at(
        self, b: Array, rate: Array, *, limit: float = 0.999, pairs: list[tuple[Array, Array]] | None = None
    ) -> Array:
        """Mean TPOT with b requests in flight at `rate`: the largest over the counted line pairs of
        D / (1 - rate P) (`pairs`: `_pairs_at(b)` when already known), rate P clipped at `limit`."""
        out = None
        for step, per_request in pairs if pairs is not None else self._pairs_at(b):
            t = step / (1.0 - np.clip(rate * per_request, 0.0, limit))
            out = t if out is None else np.maximum(out, t)
        return out

    def prefill_share(self, b: Array) -> Array:
        """Share of a request's device time its prompt takes with b requests in flight (what cost.token_costs
        splits a request's cost by): per request, the prompt's prefill P(b) / b against its decode steps
        (output - 1) x D(b) / b, each phase's own roofline at b (`prefill_terms`, `decode_terms`),
            share = P(b) / (P(b) + (output - 1) x D(b)).
        Where prompts are prefilled in passes of their own this is the device time of each pass. Where chunks
        of prompts ride on the decode steps (`mixing`) a mixed step is one roofline and takes less than the
        two phases would apart (module docstring); its time is split in proportion to what each phase would
        take on its own (cost allocation by stand-alone cost), so the saving of piggybacking is shared by both
        kinds of token. Splitting on the line that binds instead (the prompt paying its FLOPs on a
        compute-bound step, only its KV writes on a memory-bound one) is the marginal view of Sarathi-Serve
        (Agrawal et al., OSDI 2024), but it jumps by orders of magnitude where the binding line changes with
        the load, which a price must not. The first output token comes out of the prefill pass, hence
        output - 1 decode steps (as in engine.evaluate)."""
        prefill = self.prefill_terms.time_s(b)
        decode = self.steps * self.decode_terms.time_s(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(self.prompt_tokens > 0, prefill / (prefill + decode), 0.0)
        return np.clip(np.nan_to_num(share, nan=0.0), 0.0, 1.0)

    def rate_at(self, b: Array) -> Array:
        """Sustainable rate at in-flight count b (the closed form in the module docstring, smallest over the
        counted line pairs)."""
        out = None
        for step, per_request in self._pairs_at(b):
            r = self._rate(b, step, per_request)
            out = r if out is None else np.minimum(out, r)
        return out

    def _rate(self, b: Array, decode: Array, per_request: Array) -> Array:
        p1, pb, sd = self.lone_prefill, per_request, self.steps * decode
        big_b = p1 + sd + b * pb
        root = np.sqrt(np.maximum(big_b * big_b - 4.0 * p1 * pb * b, 0.0))
        return 2.0 * b / np.maximum(big_b + root, 1e-30)

    def batch_for_rate(self, rate: Array) -> Array:
        """The smallest in-flight count in [1, best batch] whose sustainable rate reaches `rate` (1 when even
        a batch of one keeps up): in closed form on the phases' roofline lines (`_rate_roots`), searched in
        log b where that fails (routed experts)."""
        rate = np.asarray(rate, dtype=np.float64)
        shape = np.broadcast_shapes(np.shape(self.capacity), np.shape(rate))
        model = self
        if shape != np.shape(self.capacity):  # e.g. one configuration at many rates: its row repeated
            rows_of = np.arange(self.capacity.size).reshape(np.shape(self.capacity))
            model = self.subset(np.broadcast_to(rows_of, shape).reshape(-1))
        rate = np.broadcast_to(rate, shape).reshape(-1)
        lone = np.broadcast_to(model.rate_at(np.ones(rate.size)), rate.shape)
        out = np.ones(rate.size)
        rows = np.flatnonzero(lone < rate)
        if rows.size == 0:
            return out.reshape(shape)
        sub = model.subset(rows)
        target = rate[rows]
        b = sub._rate_roots(target)
        with np.errstate(divide="ignore", invalid="ignore"):
            check = np.abs(sub.rate_at(np.where(np.isfinite(b), b, 1.0)) / target - 1.0) < 1e-9
        check &= np.isfinite(b)
        out[rows[check]] = b[check]
        left = np.flatnonzero(~check)
        if left.size:
            out[rows[left]] = sub.subset(left)._search_batch_for_rate(target[left])
        return out.reshape(shape)

    def _search_batch_for_rate(self, target: Array) -> Array:
        """`batch_for_rate` by search in log b (rows whose rate(1) is below `target`)."""
        log_target = np.log(np.maximum(target, 1e-300))

        def short(x: Array) -> Array:
            return np.log(np.maximum(self.rate_at(np.exp(x)), 1e-300)) - log_target

        hi = np.log(self.best_batch)
        lo = np.zeros_like(hi)
        lo, hi = bracket_root(short, lo, hi, short(lo), short(hi), self.root_iterations, polish=False)
        # The rate is smooth in log b: the secant through the final bracket lands on the root.
        f_lo, f_hi = short(lo), short(hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        return np.exp(np.where(np.isfinite(x) & (x >= lo) & (x <= hi), x, hi))

    def _line_pairs(self) -> list[tuple[Array, Array, Array, Array, Array]]:
        """(a_P, b_P, a_D, b_D, counted) for each pair of roofline lines of the prefill P(n) = a_P + b_P n and
        the decode step D(n) = a_D + b_D n (`_pairs_at`): on a pair both are affine. `counted`: the rows where
        the pair is one of those `_pairs_at` counts and the phases read no routed experts (whose reads are not
        a line), so a root found on the pair is a candidate for the real one."""
        (apc, bpc), (apm, bpm) = self.prefill_terms.lines()
        (adc, bdc), (adm, bdm) = self.decode_terms.lines()
        apm = np.where(self.mixing, self.prefill_terms.compute_fixed_s, apm)
        dense = self.prefill_terms.dense & self.decode_terms.dense
        pairs = [(apc, bpc, adc, bdc, dense), (apm, bpm, adm, bdm, dense)]
        separate = ~self.mixing
        if np.any(separate):  # the cross pairings count only where prompts are prefilled on their own
            pairs += [(apc, bpc, adm, bdm, dense & separate), (apm, bpm, adc, bdc, dense & separate)]
        return pairs

    def _pick(self, candidates: list[tuple[Array, Array]], *, largest: bool) -> Array:
        """The smallest (or `largest`) candidate in-flight count in [1, best batch] whose mask holds (NaN if
        none)."""
        best = np.full(np.shape(self.capacity), np.nan)
        for b, ok in candidates:
            with np.errstate(invalid="ignore"):
                beaten = (b <= best) if largest else (b >= best)
                good = ok & (b >= 1.0 - 1e-9) & (b <= self.best_batch * (1.0 + 1e-9)) & ~beaten
            best = np.where(good, np.clip(b, 1.0, self.best_batch), best)
        return best

    def _rate_roots(self, rate: Array) -> Array:
        """In-flight count b with rate(b) = `rate`, in closed form: Little's law on the curve (the module
        docstring's quadratic in r, times b), b^2 - r b P(b) - r P1 b - r s b D(b) + r^2 P1 P(b) = 0,
        is a quadratic in b on each pair of roofline lines (`_line_pairs`); the physical root has
        r P(b) / b < 1. rate(b) is the smallest of the counted pairs' rates, each growing with b (module
        docstring), so it reaches `rate` where the last of them does: the largest pair root. NaN where no
        pair gives one (routed experts: searched instead)."""
        r, p1, steps = rate, self.lone_prefill, self.steps
        candidates = []
        for ap, bp, ad, bd, counted in self._line_pairs():
            qa = 1.0 - r * bp - r * steps * bd
            qb = -r * ap - r * p1 + r * r * p1 * bp - r * steps * ad
            qc = r * r * p1 * ap
            for root in _quadratic_roots(qa, qb, qc):
                with np.errstate(invalid="ignore"):
                    candidates.append((root, counted & (r * (ap + bp * root) < root)))
        return self._pick(candidates, largest=True)

    def batch_for_tpot(self, bound_s: Array) -> Array:
        """The in-flight count on the sustainable curve where the mean TPOT reaches `bound_s` (NaN where it
        stays below it up to the best batch; rows whose TPOT at b = 1 already exceeds it give 1). Closed form
        on the roofline lines: there rate = b / (P1 + s T) (Little's law at TPOT T), and
        T (1 - P(b) / (P1 + s T)) = D(b) is linear in b; searched in log b where that fails."""
        shape = np.shape(self.capacity)
        bound = np.broadcast_to(np.asarray(bound_s, dtype=np.float64), shape).reshape(-1)
        k = self.lone_prefill + self.steps * bound

        # Along Little's law at TPOT = bound each pair's TPOT grows with b, and the mean TPOT is their
        # largest: it reaches the bound where the first pair does, the smallest root with rate P(b) / b < 1.
        candidates = []
        for ap, bp, ad, bd, counted in self._line_pairs():
            with np.errstate(divide="ignore", invalid="ignore"):
                root = (bound * (1.0 - ap / k) - ad) / (bd + bound * bp / k)
                candidates.append((root, counted & (ap / k + root * bp / k < 1.0)))
        b = self._pick(candidates, largest=False).reshape(-1)

        def excess(model: ReplicaModel, x: Array, limit: Array) -> Array:
            return np.log(model.curve_latencies(np.exp(x), ("tpot_s",))[1]["tpot_s"] / limit)

        one = excess(self, np.zeros(bound.size), bound)
        top = excess(self, np.log(self.best_batch), bound)
        b = np.where(one > 0, 1.0, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            check = np.abs(excess(self, np.log(np.where(np.isfinite(b), b, 1.0)), bound)) < 1e-9
        check &= np.isfinite(b) & (one <= 0)
        b = np.where(check | (one > 0), b, np.nan)
        left = np.flatnonzero(~check & (one <= 0) & (top > 0))
        if left.size:
            part = self.subset(left)
            lo, hi = np.zeros(left.size), np.log(part.best_batch)
            limit = bound[left]
            lo, _ = bracket_root(
                lambda x: excess(part, x, limit), lo, hi, one[left], top[left], self.root_iterations
            )
            b[left] = np.exp(lo)
        return b.reshape(shape)

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

    def curve_latencies(self, b: Array, columns: tuple[str, ...]) -> tuple[Array, dict[str, Array]]:
        """(rate, the requested OnlineColumns latency fields) at in-flight count b on the sustainable curve,
        b in [1, best batch]: what a search along the load curve evaluates at each step."""
        decode = (self.decode_terms.compute_time_s(b), self.decode_terms.memory_time_s(b))
        pairs = self._pairs_at(b, decode)
        rate = None
        for step, per_request in pairs:
            r = self._rate(b, step, per_request)
            rate = r if rate is None else np.minimum(rate, r)
        rate = np.minimum(rate, self.capacity)
        saturated = rate >= self.capacity * (1.0 - 1e-9)
        return rate, self.latencies(b, rate, saturated, columns, decode=decode, pairs=pairs)

    def latencies(
        self,
        b: Array,
        rate: Array,
        saturated: Array,
        columns: tuple[str, ...],
        *,
        prefill_queue: bool = True,
        decode: tuple[Array, Array] | None = None,
        pairs: list[tuple[Array, Array]] | None = None,
    ) -> dict[str, Array]:
        """The requested OnlineColumns latency fields serving `rate` with b requests in flight, each computed
        only if asked for (`point_at` asks for all). `decode`, `pairs`: the decode step's lines and
        `_pairs_at(b)` when the caller has them."""
        p1 = self.lone_prefill
        memo: dict[str, Array] = {}

        def decode_lines() -> tuple[Array, Array]:
            nonlocal decode
            if decode is None:
                decode = (self.decode_terms.compute_time_s(b), self.decode_terms.memory_time_s(b))
            return decode

        def tpot_mean() -> Array:
            if "tpot_s" not in memo:
                known = pairs if pairs is not None else self._pairs_at(b, decode_lines())
                memo["tpot_s"] = self.tpot_at(b, rate, pairs=known)
            return memo["tpot_s"]

        def tpot_p99() -> Array:
            if "tpot_p99_s" not in memo:
                tpot = tpot_mean()
                # In-flight count by Little's law (below 1 at light load), its 99th percentile (Poisson): the
                # mean TPOT of that many in flight at the same rate.
                in_flight = rate * (p1 + self.steps * tpot)
                b99 = np.clip(in_flight + Z99 * np.sqrt(in_flight), 1.0, self.best_batch)
                memo["tpot_p99_s"] = np.maximum(self.tpot_at(b99, rate), tpot)
            return memo["tpot_p99_s"]

        def tpot_p90() -> Array:
            # TPOT at the p90 in-flight count: between the mean and the p99 (1.2816 / 2.3263 of the way).
            tpot = tpot_mean()
            return tpot + (tpot_p99() - tpot) * (1.2815515655446004 / Z99)

        def admission() -> Array:
            if "p_wait" not in memo:
                memo["p_wait"], memo["inv"] = self._admission_chance(rate, b)
            return memo["p_wait"]

        def ttft(q: float | None) -> Array:
            """TTFT at quantile q (None: the mean)."""
            key = f"ttft_{q}"
            if key not in memo:
                p_wait = admission()
                if not prefill_queue:
                    first = p1
                elif np.all(self.mixing):
                    first = self._mixed_first_token(rate, tpot_mean(), q, decode_lines())
                elif not np.any(self.mixing):
                    first = p1 + _prefill_wait(rate * p1, p1, q)
                else:
                    alone = p1 + _prefill_wait(rate * p1, p1, q)
                    mixed = self._mixed_first_token(rate, tpot_mean(), q, decode_lines())
                    first = np.where(self.mixing, mixed, alone)
                unbounded = np.where(saturated, np.inf, 0.0)
                memo[key] = first + _admission_wait(p_wait, memo["inv"], q) + unbounded
            return memo[key]

        makers: dict[str, Callable[[], Array]] = {
            "ttft_p50_s": lambda: ttft(0.5),
            "ttft_p90_s": lambda: ttft(0.9),
            "ttft_p99_s": lambda: ttft(0.99),
            "ttft_mean_s": lambda: ttft(None),
            "tpot_s": tpot_mean,
            "tpot_p99_s": tpot_p99,
            "e2e_latency_s": lambda: ttft(None) + self.steps * tpot_mean(),
            "e2e_p90_s": lambda: ttft(0.9) + self.steps * tpot_p90(),
            "e2e_p99_s": lambda: ttft(0.99) + self.steps * tpot_p99(),
        }
        return {name: makers[name]() for name in columns}

    def _admission_chance(self, rate: Array, in_flight: Array) -> tuple[Array, Array]:
        """(P(wait), 1 / (capacity - rate)) for one of c = best-batch slots, b = `in_flight` of them busy on
        average at `rate`: the birth-death chain of the module docstring (Erlang C, departures d(n) =
        rate(n))."""
        c, capacity = self.best_batch, self.capacity
        headroom = np.maximum(capacity - rate, 0.0)
        b = np.minimum(in_flight, c)
        half, middle = 0.5 * (c - b), 0.5 * (c + b)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Below c the chain is about normal around b, variance rate / d'(b) (backward difference):
            # ln Z = ln(sd sqrt(2 pi) Phi((c - b) / sd)), relative to P(b).
            slope = (self.rate_at(b) - self.rate_at(b * (1.0 - SLOPE_STEP))) / (b * SLOPE_STEP)
            sd = np.sqrt(rate / np.maximum(slope, 1e-300))
            below = 0.5 * np.log(2.0 * np.pi) + np.log(np.maximum(sd, 1e-300)) + log_ndtr((c - b) / sd)
            # ln(E / Z), E = exp(T) / (1 - rate / capacity): a geometric tail past c drained at the capacity.
            # d(n) grows with n, so T <= (c - m) ln(rate / d(m)) at the midpoint m: where even that bound
            # leaves P(wait) below e^-50 it is 0, and T's quadrature runs on the other rows only.
            rest = -np.log(headroom / capacity) - below
            bound = half * np.log(rate / self.rate_at(middle)) + rest
            shape = np.broadcast_shapes(np.shape(bound), np.shape(capacity))
            log_odds = np.full(shape, -np.inf)
            near = np.flatnonzero(np.broadcast_to(bound, shape) > ADMISSION_NEGLIGIBLE)
            if near.size:
                flat = len(shape) == 1 and np.shape(capacity) == shape
                part = self.subset(near) if flat else self
                pick = (lambda a: np.broadcast_to(a, shape)[near]) if flat else (lambda a: a)
                r, lo, hi = pick(rate), pick(b), pick(c)
                # T = ln P(c) / P(b) = sum over b < k <= c of ln(rate / d(k)), by Gauss-Legendre over [b, c].
                tail = sum(
                    w * 0.5 * (hi - lo) * np.log(r / part.rate_at(0.5 * (hi + lo) + 0.5 * (hi - lo) * x))
                    for x, w in zip(*ADMISSION_NODES, strict=True)
                )
                odds = tail + pick(rest)
                log_odds.reshape(-1)[near] = (
                    np.broadcast_to(odds, shape).reshape(-1)[near] if not flat else odds
                )
            p_wait = np.where(headroom > 0, expit(np.nan_to_num(log_odds, nan=-np.inf)), 1.0)
            p_wait = np.where(rate > 0, p_wait, 0.0)
            inv = 1.0 / headroom  # inf where no headroom is left
        return p_wait, inv

    def _mixed_first_token(
        self, rate: Array, tpot: Array, q: float | None, decode: tuple[Array, Array]
    ) -> Array:
        """Time to first token where prompts ride on the decode steps (`mixing`), at quantile q (None: the
        mean): the rest of the running step (uniform over a step: mean TPOT / 2, variance TPOT^2 / 12) and
        the step that carries the prompt beside the batch's decodes and the k prompts that arrived during one
        step (Poisson, mean and variance m = rate x TPOT), a roofline of its own:
            max(Dc(b) + (1 + m) Pc(1), Dm(b), prefill(1)),   spread Pc(1) sqrt(m) where compute-bound;
        the q-quantile of the sum by the normal approximation (mean + z_q sd). Then a queue for the step's
        token budget (M/D/1, service TPOT x prompt / max_num_batched_tokens), negligible until prompts arrive
        at about a budget per step. Prompts do not queue behind whole prefills as they do where prefill runs
        in passes of its own. `decode`: the decode step's (compute, memory) lines at the in-flight count."""
        arrivals = rate * tpot
        prompt = self.prompt_compute
        loaded = decode[0] + (1.0 + arrivals) * prompt
        step = np.maximum(np.maximum(loaded, decode[1]), self.lone_prefill)
        spread = np.where(loaded >= step, prompt * np.sqrt(arrivals), 0.0)
        mean = 0.5 * tpot + step
        service = tpot * self.prompt_tokens / self.token_budget
        if q is None:
            return mean + _prefill_wait(rate * service, service, None)
        sd = np.sqrt(tpot * tpot / 12.0 + spread * spread)
        return mean + float(ndtr_inverse(q)) * sd + _prefill_wait(rate * service, service, q)

    def point_at(
        self, b: Array, rate: Array, saturated: Array, *, prefill_queue: bool = True
    ) -> OnlineColumns:
        """The operating point serving `rate` with b requests in flight (b from `batch_for_rate`, or 1 for
        rates a batch of one carries)."""
        values = self.latencies(b, rate, saturated, LATENCY_COLUMNS, prefill_queue=prefill_queue)
        return OnlineColumns(
            concurrency=b,
            **values,
            output_tokens_per_s=rate * self.output_tokens,
            requests_per_s=rate,
            capacity_requests_per_s=self.capacity,
            utilization=np.where(self.capacity > 0, rate / np.maximum(self.capacity, 1e-30), 1.0),
            saturated=saturated,
        )


LATENCY_COLUMNS = (
    "ttft_p50_s",
    "ttft_p90_s",
    "ttft_p99_s",
    "ttft_mean_s",
    "tpot_s",
    "tpot_p99_s",
    "e2e_latency_s",
    "e2e_p90_s",
    "e2e_p99_s",
)
"""The OnlineColumns fields `ReplicaModel.latencies` computes."""


def _quadratic_roots(qa: Array, qb: Array, qc: Array) -> tuple[Array, Array]:
    """Both real roots of qa x^2 + qb x + qc = 0 (NaN where complex; the linear root, twice, where qa is
    negligible), in the cancellation-free form (Numerical Recipes 5.6)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = qb * qb - 4.0 * qa * qc
        root = np.sqrt(np.where(disc >= 0, disc, np.nan))
        q = -0.5 * (qb + np.where(qb >= 0, root, -root))
        linear = np.abs(qa) * np.maximum(np.abs(qc), 1e-300) < 1e-14 * qb * qb
        first = np.where(linear, -qc / qb, q / qa)
        second = np.where(linear, -qc / qb, qc / q)
    return first, second


def bracket_root(
    fun: Callable[[Array], Array],
    lo: Array,
    hi: Array,
    f_lo: Array,
    f_hi: Array,
    iterations: int,
    *,
    polish: bool = True,
) -> tuple[Array, Array]:
    """Narrow each row's bracket [lo, hi] of an increasing `fun` (fun(lo) <= 0 < fun(hi)) around its root:
    regula falsi with the Anderson-Bjorck modification (Anderson & Bjorck 1973: the end kept twice has its
    value scaled down, so both ends converge superlinearly), bisecting every fourth step (a kink or a flat
    stretch slows the secant) and where the secant is not finite. With `polish` the last step aims at the
    feasible side: as far below the secant's root as hi is above it (a kinked `fun` converges from one
    side). Returns (lo, hi); `fun(x)` is evaluated once per step on all rows."""
    kept = np.zeros(np.shape(lo), dtype=np.int8)  # -1: lo kept last time, +1: hi kept
    for step in range(iterations):
        width = hi - lo
        with np.errstate(divide="ignore", invalid="ignore"):
            chord = width / (f_hi - f_lo)
            x = hi - f_hi * chord
            if polish and step == iterations - 1 and iterations > 1:
                x = np.where(2.0 * x - hi > lo, 2.0 * x - hi, x)
        bisect = step % 4 == 3 and not (polish and step == iterations - 1)
        x = np.where(np.isfinite(x) & (x > lo) & (x < hi) & (not bisect), x, 0.5 * (lo + hi))
        fx = fun(x)
        over = fx > 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scale_lo = np.where((1.0 - fx / f_hi) > 0, 1.0 - fx / f_hi, 0.5)
            scale_hi = np.where((1.0 - fx / f_lo) > 0, 1.0 - fx / f_lo, 0.5)
        f_lo = np.where(over & (kept == -1), scale_lo * f_lo, f_lo)
        f_hi = np.where(~over & (kept == 1), scale_hi * f_hi, f_hi)
        hi, f_hi = np.where(over, x, hi), np.where(over, fx, f_hi)
        lo, f_lo = np.where(over, lo, x), np.where(over, f_lo, fx)
        kept = np.where(over, -1, 1).astype(np.int8)
    return lo, hi


def _prefill_wait(rho: Array, service_s: Array, q: float | None) -> Array:
    """M/D/1 wait in front of the prefill work at quantile q (None: the mean)."""
    rho = np.clip(rho, 0.0, 0.999)
    if q is None:
        return rho / (2.0 * (1.0 - rho)) * service_s
    return np.where(rho > 1.0 - q, service_s / (1.0 - rho) * np.log(np.maximum(rho, 1e-300) / (1.0 - q)), 0.0)


def _closed_prefill_wait(rate: Array, service_s: Array, clients: Array) -> Array:
    """Mean wait in front of the prefill work when `clients` requests circulate (closed loop): by the arrival
    theorem an arrival finds the queue of N - 1 clients, Lq x (N - 1) / N (Schweitzer), behind which it waits
    D each, plus the residual D / 2 of the prefill in service (chance rho = rate x D). With Lq = rate x W
    (Little), W = rate D^2 / (2 (1 - rho (N - 1) / N)): the open M/D/1 wait rho D / (2 (1 - rho)) as N grows,
    0 for one client, and bounded where the open formula diverges (a closed loop slows its own arrivals)."""
    rho = rate * service_s
    share = np.clip(rho * (clients - 1.0) / np.maximum(clients, 1.0), 0.0, 0.999)
    return rate * service_s * service_s / (2.0 * (1.0 - share))


def _prefill_waits(rho: Array, service_s: Array) -> tuple[Array, Array, Array, Array]:
    """M/D/1 waits (p50, p90, p99, mean) in front of the prefill work."""
    return tuple(_prefill_wait(rho, service_s, q) for q in (0.5, 0.9, 0.99, None))  # type: ignore[return-value]


def _admission_wait(p_wait: Array, inv: Array, q: float | None) -> Array:
    """Admission wait at quantile q (None: the mean) from `_admission_chance`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if q is None:
            return np.where(p_wait > 0, p_wait * inv, 0.0)
        return np.where(p_wait > 1.0 - q, np.log(np.maximum(p_wait, 1e-300) / (1.0 - q)) * inv, 0.0)


def replica_capacity(batch: ConfigBatch, max_batch: Array) -> tuple[Array, Array]:
    """(capacity requests/s, in-flight count at capacity) of one replica of each configuration."""
    model = ReplicaModel(batch, max_batch)
    return model.capacity, model.best_batch


def _closed_loop_columns(
    *,
    concurrency: Array,
    ttft_p50_s: Array,
    ttft_p90_s: Array,
    ttft_p99_s: Array,
    ttft_mean_s: Array,
    tpot_s: Array,
    steps: Array,
    requests_per_s: Array,
    output_tokens: Array,
    capacity_requests_per_s: Array,
    utilization: Array,
    saturated: Array,
) -> OnlineColumns:
    """OnlineColumns of a closed loop or a burst: each end-to-end figure is its TTFT plus `steps` tokens at
    the TPOT (the TPOT has no spread of its own there)."""
    return OnlineColumns(
        concurrency=concurrency,
        ttft_p50_s=ttft_p50_s,
        ttft_p90_s=ttft_p90_s,
        ttft_p99_s=ttft_p99_s,
        ttft_mean_s=ttft_mean_s,
        tpot_s=tpot_s,
        tpot_p99_s=tpot_s,
        e2e_latency_s=ttft_mean_s + steps * tpot_s,
        e2e_p90_s=ttft_p90_s + steps * tpot_s,
        e2e_p99_s=ttft_p99_s + steps * tpot_s,
        output_tokens_per_s=requests_per_s * output_tokens,
        requests_per_s=requests_per_s,
        capacity_requests_per_s=capacity_requests_per_s,
        utilization=utilization,
        saturated=saturated,
    )


def online_operating_point(
    batch: ConfigBatch,
    max_batch: Array,
    *,
    request_rate: Array | None = None,
    concurrency: Array | None = None,
    iterations: int = 40,
    prompts_per_client: Array | float = CLOSED_LOOP_PROMPTS_PER_CLIENT,
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
    p1, steps = replica.lone_prefill, replica.steps

    def cycle_s(rate: Array) -> Array:
        tpot = replica.tpot_at(b, rate, limit=0.95)
        return p1 + _closed_prefill_wait(rate, p1, b) + (STEADY_STEPS + steps) * tpot

    # Little's law, b = rate x cycle(rate): rate x cycle grows with the rate (the cycle lengthens with load),
    # from -b at 0 to >= 0 at the unloaded rate b / cycle(0), so the root is bracketed.
    hi = b / cycle_s(np.zeros_like(b))
    lo, hi = bracket_root(
        lambda r: r * cycle_s(r) - b, np.zeros_like(b), hi, -b, hi * cycle_s(hi) - b, iterations, polish=False
    )
    rate = 0.5 * (lo + hi)
    tpot = replica.tpot_at(b, rate, limit=0.95)
    wait = _closed_prefill_wait(rate, p1, b)
    queued = np.maximum(wanted - b, 0.0)
    queue_wait = queued / np.maximum(rate, 1e-12)
    # Steady state: an arrival waits for the running step to end (half a step on average), then its prompt
    # is prefilled in a step that also carries the batch's decode (one more step), behind the prefill queue
    # of the other clients (its quantiles those of the open queue with the same mean wait).
    p50, p90, p99, mean = _prefill_waits(2.0 * wait / np.maximum(p1 + 2.0 * wait, 1e-30), p1)
    steady = p1 + queue_wait + STEADY_STEPS * tpot
    # The client's first prompts all arrive at once: 1 in `prompts_per_client` requests is in that wave, its
    # i-th prompt prefilled after i - 1 others (mean prefill(n) (n + 1) / 2n); the q-quantile lies in the wave
    # once 1 - q < 1 / prompts_per_client (the top of the wave: its (1 - (1 - q) x W)-quantile).
    waves = np.maximum(np.asarray(prompts_per_client, dtype=np.float64), 1.0)
    wave = replica.prefill_terms.time_s(b)
    wave_mean = wave * (b + 1.0) / (2.0 * b)

    def quantile(q: float, queue: Array) -> Array:
        return np.maximum(steady + queue, np.maximum(1.0 - (1.0 - q) * waves, 0.0) * wave + queue_wait)

    ttft_mean = (steady + mean) * (1.0 - 1.0 / waves) + (wave_mean + queue_wait) / waves
    ttft_p90 = quantile(0.9, p90)
    ttft_p99 = quantile(0.99, p99)
    return _closed_loop_columns(
        concurrency=b,
        ttft_p50_s=quantile(0.5, p50),
        ttft_p90_s=ttft_p90,
        ttft_p99_s=ttft_p99,
        ttft_mean_s=ttft_mean,
        tpot_s=tpot,
        steps=steps,
        requests_per_s=rate,
        output_tokens=replica.output_tokens,
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
    return _closed_loop_columns(
        concurrency=n,
        ttft_p50_s=0.5 * (queue_s + prefill),
        ttft_p90_s=ttft_p90,
        ttft_p99_s=ttft_p99,
        ttft_mean_s=ttft_mean,
        tpot_s=tpot,
        steps=steps,
        requests_per_s=n_total / total_s,
        output_tokens=w.output_tokens,
        capacity_requests_per_s=np.full_like(n, np.nan),
        utilization=np.full_like(n, np.nan),
        saturated=queued > 0,
    )


def disaggregated_operating_point(
    prefill: ConfigBatch,
    decode: ConfigBatch,
    decode_cap: Array,
    *,
    prefill_workers: Array,
    decode_workers: Array,
    concurrency: Array,
    iterations: int = 40,
    prompts_per_client: float = CLOSED_LOOP_PROMPTS_PER_CLIENT,
) -> OnlineColumns:
    """Disaggregated serving (NVIDIA Dynamo, SGLang PD, TensorRT-LLM disaggregated): `prefill_workers`
    engines of the `prefill` layout only prefill, `decode_workers` engines of the `decode` layout only
    decode, and each prompt's KV cache crosses the interconnect between them. N = `concurrency` clients in
    a closed loop (one ConfigBatch row per configuration; the batches' row i describe one deployment).

    Decode never carries prompts: TPOT is one decode step at b = N x (decode share of a request's time) /
    decode workers (at most the admissible batch), over the mean context prompt + output / 2.
    First token: a prefill engine batches the prompts waiting for it, up to K = max_num_batched_tokens /
    prompt of them, so it serves K / prefill(K) prompts/s at most; at utilisation u = r / (workers x that)
    its batches hold k = 1 + u (K - 1) prompts. A prompt's first token takes its batch's prefill(k) plus
    the KV transfer (the prompt's KV bytes over the link), behind the closed-loop queue of N / workers
    clients at r / workers, each prompt in it costing prefill(k) / k (`_closed_prefill_wait`). The
    clients' first wave (N prompts at once, N / workers each) is prefilled together, mean prefill(n)
    (n + 1) / 2n, and is 1 in `prompts_per_client` requests.
    The rate solves Little's law N = r x (TTFT + (output - 1) x TPOT) by fixed-point iteration (the cycle
    grows with r, so the map is monotone and bracketed by 0 and N / lone cycle)."""
    n = np.maximum(np.asarray(concurrency, dtype=np.float64), 1.0)
    p_workers = np.maximum(np.asarray(prefill_workers, dtype=np.float64), 1.0)
    d_workers = np.maximum(np.asarray(decode_workers, dtype=np.float64), 1.0)
    pm, ph, pp_, pf, pw, pe = (
        prefill.model,
        prefill.hardware,
        prefill.precision,
        prefill.framework,
        prefill.workload,
        prefill.efficiency,
    )
    dm, dh, dp_, df, dw, de = (
        decode.model,
        decode.hardware,
        decode.precision,
        decode.framework,
        decode.workload,
        decode.efficiency,
    )
    steps = np.maximum(dw.output_tokens - 1.0, 0.0)
    context = dw.prompt_tokens + dw.output_tokens / 2.0

    def prefill(k: Array) -> Array:
        return prefill_time_s(pm, ph, pp_, pf, pw, pe, k)

    # The prompt's KV (all layers, every pipeline stage) leaves each prefill GPU over its link.
    kv_bytes = kv_bytes_per_sequence(pm, pw, pw.prompt_tokens) * pw.pipeline_parallel
    transfer = kv_bytes / np.maximum(ph.interconnect_bytes_per_s * pe.link_efficiency, 1.0)
    largest = np.maximum(np.floor(pf.max_num_batched_tokens / np.maximum(pw.prompt_tokens, 1.0)), 1.0)
    largest = np.minimum(largest, np.maximum(n / p_workers, 1.0))
    prompts_per_s = largest / prefill(largest)

    def first_token(rate: Array) -> tuple[Array, Array, Array]:
        """(service: the batch's prefill + transfer, wait in the queue, cost per queued prompt)."""
        use = np.clip(rate / (p_workers * prompts_per_s), 0.0, 1.0)
        k = 1.0 + use * (largest - 1.0)
        batch_s = prefill(k)
        per_prompt = batch_s / k
        return (
            batch_s + transfer,
            _closed_prefill_wait(rate / p_workers, per_prompt, n / p_workers),
            per_prompt,
        )

    cap = np.maximum(decode_cap, 1.0)

    def tpot_at(in_decode: Array) -> Array:
        b = np.clip(in_decode / d_workers, 1.0, cap)
        return decode_step_time_s(dm, dh, dp_, df, dw, de, b, context)

    full = tpot_at(n)
    rate = n / (prefill(np.ones_like(n)) + transfer + steps * full)
    for _ in range(iterations):
        service, wait, _ = first_token(rate)
        ttft = service + wait
        tpot = tpot_at(n * steps * full / np.maximum(ttft + steps * full, 1e-12))
        rate = 0.5 * rate + 0.5 * n / (ttft + steps * tpot)
    service, wait, per_prompt = first_token(rate)
    steady = service + wait
    decode_share = steps * tpot / np.maximum(steady + steps * tpot, 1e-12)
    tpot = tpot_at(n * decode_share)
    wave_k = n / p_workers
    wave = prefill(wave_k) + transfer
    wave_mean = wave * (wave_k + 1.0) / (2.0 * wave_k)
    waves = max(float(prompts_per_client), 1.0)
    ttft_mean = steady * (1.0 - 1.0 / waves) + wave_mean / waves
    p50, p90, p99, _mean = _prefill_waits(2.0 * wait / np.maximum(per_prompt + 2.0 * wait, 1e-30), per_prompt)

    def quantile(q: float, queue: Array) -> Array:
        return np.maximum(service + queue, np.maximum(1.0 - (1.0 - q) * waves, 0.0) * wave)

    ttft_p90, ttft_p99 = quantile(0.9, p90), quantile(0.99, p99)
    return _closed_loop_columns(
        concurrency=n,
        ttft_p50_s=quantile(0.5, p50),
        ttft_p90_s=ttft_p90,
        ttft_p99_s=ttft_p99,
        ttft_mean_s=ttft_mean,
        tpot_s=tpot,
        steps=steps,
        requests_per_s=n / (ttft_mean + steps * tpot),
        output_tokens=dw.output_tokens,
        capacity_requests_per_s=np.full_like(n, np.nan),
        utilization=np.full_like(n, np.nan),
        saturated=n / d_workers > cap,
    )
