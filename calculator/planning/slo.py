"""Service-level objectives and traffic: what a deployment must sustain, validated with the field named.

An SLO bounds the latencies a replica may reach at its load: time to first token (p50, p99), time per
output token (p50 = mean here, p99) and end-to-end latency (p99). Every bound is optional; an empty SLO only
asks that the server keeps up (below `max_utilization` of its saturation rate, see sizing.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from calculator.deployment import InputError


@dataclass(frozen=True, kw_only=True)
class SLOTerm:
    name: str
    """The SLO field, e.g. "ttft_p99_ms"."""
    column: str
    """The OnlineColumns field it bounds (seconds)."""
    to_seconds: float
    label: str
    unit: str


SLO_TERMS = (
    SLOTerm(name="ttft_p50_ms", column="ttft_p50_s", to_seconds=1e-3, label="TTFT p50", unit="ms"),
    SLOTerm(name="ttft_p99_ms", column="ttft_p99_s", to_seconds=1e-3, label="TTFT p99", unit="ms"),
    SLOTerm(name="tpot_p50_ms", column="tpot_s", to_seconds=1e-3, label="TPOT p50", unit="ms"),
    SLOTerm(name="tpot_p99_ms", column="tpot_p99_s", to_seconds=1e-3, label="TPOT p99", unit="ms"),
    SLOTerm(name="e2e_p99_s", column="e2e_p99_s", to_seconds=1.0, label="end-to-end p99", unit="s"),
)
"""The one table of SLO bounds: every front door and the search read it."""
SLO_ALIASES = {"tpot_mean_ms": "tpot_p50_ms", "tpot_ms": "tpot_p50_ms", "ttft_ms": "ttft_p50_ms"}


@dataclass(frozen=True, kw_only=True)
class SLO:
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    tpot_p50_ms: float | None = None
    """Median (= mean in this model) time per output token."""
    tpot_p99_ms: float | None = None
    e2e_p99_s: float | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, t.name) is None for t in SLO_TERMS)

    def terms(self) -> list[tuple[SLOTerm, float]]:
        """(term, bound in seconds) for each bound that is set, in SLO_TERMS order."""
        return [
            (t, getattr(self, t.name) * t.to_seconds) for t in SLO_TERMS if getattr(self, t.name) is not None
        ]

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _positive(field: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InputError(field, f"must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field, f"must be a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise InputError(field, f"must be a finite number above 0, got {value!r}")
    return number


def resolve_slo(raw: SLO | dict[str, Any] | None, *, prefix: str = "slo") -> SLO:
    """An SLO from a dict (JSON body, CLI); unknown fields, non-positive or contradictory bounds raise
    InputError naming the field ("slo.ttft_p99_ms")."""
    if raw is None:
        return SLO()
    if isinstance(raw, SLO):
        return raw
    if not isinstance(raw, dict):
        raise InputError(prefix, f"must be an object with any of {', '.join(t.name for t in SLO_TERMS)}")
    values: dict[str, float] = {}
    names = {t.name for t in SLO_TERMS}
    for key, value in raw.items():
        name = SLO_ALIASES.get(key, key)
        if name not in names:
            raise InputError(
                f"{prefix}.{key}", f"unknown SLO field; use {', '.join(t.name for t in SLO_TERMS)}"
            )
        if value is None or value == "":
            continue
        values[name] = _positive(f"{prefix}.{key}", value)
    for low, high in (("ttft_p50_ms", "ttft_p99_ms"), ("tpot_p50_ms", "tpot_p99_ms")):
        if low in values and high in values and values[low] > values[high]:
            raise InputError(f"{prefix}.{low}", f"{values[low]:g} exceeds {high} = {values[high]:g}")
    if (
        "ttft_p99_ms" in values
        and "e2e_p99_s" in values
        and values["ttft_p99_ms"] / 1e3 > values["e2e_p99_s"]
    ):
        raise InputError(
            f"{prefix}.e2e_p99_s",
            f"{values['e2e_p99_s']:g} s is below ttft_p99_ms = {values['ttft_p99_ms']:g} ms: a request "
            "cannot finish before its first token",
        )
    return SLO(**values)


@dataclass(frozen=True, kw_only=True)
class Traffic:
    """Mean arrival rate and the peak the deployment is sized for."""

    requests_per_s: float
    peak_to_mean: float = 1.0
    peak_requests_per_s: float | None = None

    @property
    def peak_rps(self) -> float:
        return max(self.requests_per_s * self.peak_to_mean, self.peak_requests_per_s or 0.0)

    def to_dict(self) -> dict[str, float | None]:
        return {
            "requests_per_s": self.requests_per_s,
            "requests_per_hour": self.requests_per_s * 3600.0,
            "peak_to_mean": self.peak_to_mean,
            "peak_requests_per_s": self.peak_rps,
        }


def resolve_traffic(
    *,
    requests_per_s: Any = None,
    requests_per_hour: Any = None,
    peak_to_mean: Any = None,
    peak_requests_per_s: Any = None,
) -> Traffic | None:
    """Traffic from the rate (per second or per hour; both must agree) and optionally a peak-to-mean factor
    or a peak rate. None when no rate is given (a peak without a mean is an error)."""
    rps = None if requests_per_s in (None, "") else _positive("requests_per_s", requests_per_s)
    rph = (
        None if requests_per_hour in (None, "", 0, 0.0) else _positive("requests_per_hour", requests_per_hour)
    )
    if rps is not None and rph is not None and not math.isclose(rps * 3600.0, rph, rel_tol=1e-6):
        raise InputError(
            "requests_per_hour", f"{rph:g}/h disagrees with requests_per_s = {rps:g}/s ({rps * 3600:g}/h)"
        )
    rate = rps if rps is not None else (rph / 3600.0 if rph is not None else None)
    factor = 1.0 if peak_to_mean in (None, "") else _positive("peak_to_mean", peak_to_mean)
    if factor < 1.0:
        raise InputError(
            "peak_to_mean", f"must be at least 1 (the peak is never below the mean), got {factor:g}"
        )
    peak = (
        None if peak_requests_per_s in (None, "") else _positive("peak_requests_per_s", peak_requests_per_s)
    )
    if rate is None:
        if peak is not None or peak_to_mean not in (None, ""):
            raise InputError("requests_per_s", "give the mean rate (requests_per_s or requests_per_hour) too")
        return None
    if peak is not None and peak < rate:
        raise InputError("peak_requests_per_s", f"{peak:g}/s is below the mean rate {rate:g}/s")
    return Traffic(requests_per_s=rate, peak_to_mean=factor, peak_requests_per_s=peak)
