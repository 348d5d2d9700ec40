"""Cost: cloud price x GPUs, or purchase price amortised over a lifetime plus energy, per hour and per unit.

local/edge hourly = purchase x gpus / (lifetime_years x 8760 h) + TDP x gpus x power_utilization / 1000
                    x usd_per_kwh x PUE
cloud hourly      = usd_per_gpu_hour x gpus (energy is in the price)
monthly           = hourly x 730 h (the cloud providers' billing month)
per request       = hourly / (3600 x requests_per_s); per 1M tokens = hourly / (3600 x tokens_per_s) x 1e6
gpus counts every GPU of the deployment (tensor x pipeline parallel x replicas). How many replicas a traffic
needs is the serving model's answer (calculator.planning.sizing), never this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from calculator.columns import Array

HOURS_PER_MONTH = 730.0
HOURS_PER_YEAR = 8760.0


class DeploymentMode(IntEnum):
    """Where a deployment runs, as the engine's arrays carry it (`ConfigBatch.deployment_mode`); inputs and
    results name it in lowercase ("cloud")."""

    LOCAL = 0
    """Owned hardware: purchase price amortised plus energy."""
    CLOUD = 1
    """Rented by the GPU-hour (energy in the price); the network round trip adds to TTFT and latency."""
    EDGE = 2
    """Owned and power-capped, part of memory left to the OS (`CostAssumptions.edge_*`)."""

    @classmethod
    def of(cls, name: str) -> DeploymentMode:
        """The mode a name gives ("cloud" -> CLOUD)."""
        return cls[name.upper()]


DEPLOYMENT_MODES: tuple[str, ...] = tuple(mode.name.lower() for mode in DeploymentMode)
"""The names inputs accept, in code order: ("local", "cloud", "edge")."""


@dataclass(frozen=True, kw_only=True)
class CostAssumptions:
    """Every cost assumption is a parameter; the defaults are documented in the README."""

    lifetime_years: float = 3.0
    """Depreciation period of owned hardware (3 years is the usual straight-line schedule for servers)."""
    usd_per_kwh: float = 0.12
    """Electricity price (US commercial average is about $0.12-0.13/kWh, EIA Electric Power Monthly 2024)."""
    pue: float = 1.3
    """Power usage effectiveness of the room (Uptime Institute 2023 survey average: 1.58; modern halls
    ~1.2-1.4)."""
    power_utilization: float = 0.7
    """Average board power as a share of TDP while serving."""
    network_rtt_s: float = 0.05
    """Round trip a cloud deployment adds to time to first token and end-to-end latency."""
    edge_power_factor: float = 0.8
    """Edge devices run power-capped: compute and bandwidth scaled by this factor."""
    edge_memory_share: float = 0.9
    """Share of an edge device's memory the model may use (the rest belongs to the OS and the app)."""


@dataclass(frozen=True, kw_only=True)
class CostColumns:
    hourly_usd: Array
    energy_hourly_usd: Array
    monthly_usd: Array
    cost_per_request_usd: Array
    power_cost_per_request_usd: Array
    cost_per_million_tokens_usd: Array
    price_missing: Array


def deployment_costs(
    *,
    mode: Array,
    num_gpus: Array,
    cloud_usd_per_hour: Array,
    purchase_usd: Array,
    tdp_watts: Array,
    requests_per_s: Array,
    output_tokens_per_s: Array,
    assumptions: CostAssumptions,
) -> CostColumns:
    """Cost of `num_gpus` GPUs per hour and per month, and unit costs at the given throughput; `mode` holds
    `DeploymentMode` codes."""
    energy = (
        tdp_watts
        * num_gpus
        * assumptions.power_utilization
        / 1000.0
        * assumptions.usd_per_kwh
        * assumptions.pue
    )
    amortised = purchase_usd * num_gpus / (assumptions.lifetime_years * HOURS_PER_YEAR)
    cloud = mode == DeploymentMode.CLOUD
    hourly = np.where(cloud, cloud_usd_per_hour * num_gpus, amortised + energy)
    price_missing = np.where(cloud, cloud_usd_per_hour <= 0, purchase_usd <= 0)
    energy_hourly = np.where(cloud, 0.0, energy)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_request = np.where(requests_per_s > 0, hourly / (3600.0 * requests_per_s), np.inf)
        power_per_request = np.where(requests_per_s > 0, energy_hourly / (3600.0 * requests_per_s), np.inf)
        per_million = np.where(output_tokens_per_s > 0, hourly / (3600.0 * output_tokens_per_s) * 1e6, np.inf)
    return CostColumns(
        hourly_usd=hourly,
        energy_hourly_usd=energy_hourly,
        monthly_usd=hourly * HOURS_PER_MONTH,
        cost_per_request_usd=per_request,
        power_cost_per_request_usd=power_per_request,
        cost_per_million_tokens_usd=per_million,
        price_missing=price_missing,
    )
