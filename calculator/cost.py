"""Cost: cloud price x GPUs, or purchase price amortised over a lifetime plus energy, per hour and per unit.

local/edge hourly = purchase x gpus / (lifetime_years x 8760 h) + TDP x gpus x power_utilization / 1000
                    x usd_per_kwh x PUE
cloud hourly      = usd_per_gpu_hour x gpus (energy is in the price)
monthly           = hourly x 730 h (the cloud providers' billing month)
per request       = hourly / (3600 x requests_per_s)
per 1M output tokens = hourly / (3600 x output_tokens_per_s) x 1e6 (cost_per_million_tokens_usd): ALL the
                    device time over the output tokens alone (what the estimate has always reported; the score
                    and the comparisons rank by it)
gpus counts every GPU of the deployment (tensor x pipeline parallel x replicas). How many replicas a traffic
needs is the serving model's answer (calculator.planning.sizing), never this module's.

Hosted APIs price input and output tokens separately, so a request's cost is also split by the device time
each phase takes (`token_costs`): with prefill_s and decode_s the device time of the prompt and of the output
tokens at the operating point the cost uses,
    prefill share        = prefill_s / (prefill_s + decode_s)
    $/1M input tokens    = $/request x prefill share / prompt tokens x 1e6
    $/1M output tokens   = $/request x (1 - prefill share) / output tokens x 1e6
    $/1M tokens, blended = $/request / (prompt + output tokens) x 1e6
so that input x prompt + output x output = $/request exactly (idle or unbilled time is shared pro rata): each
phase pays for the device time it occupies. The phases use the device differently (prefill compute-bound,
decode memory-bound; Patel et al., "Splitwise", ISCA 2024, and Zhong et al., "DistServe", OSDI 2024, provision
them separately for that reason), so a token of each kind costs the device differently. The phase times:
the engine's batch cycle for an estimate (`engine.evaluate`: prefill of the batch, then output - 1 decode
steps; the first output token comes out of the prefill pass), the serving model for a deployment sized to a
traffic (`serving.ReplicaModel.prefill_share`, which also says how a step that mixes prompt chunks with
decodes is split). A request with no prompt tokens bills its prefill time to its output tokens; a request with
no output tokens has no output price (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property

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
    """All device time over the OUTPUT tokens only: hourly / (3600 x output tokens/s) x 1e6."""
    prompt_tokens: Array
    output_tokens: Array
    prefill_device_s: Array
    """Device time of the prompts at the operating point (the batch's prefill): the split's basis."""
    decode_device_s: Array
    """Device time of the output tokens at the same operating point (the batch's decode steps)."""
    price_missing: Array

    # The split by phase is computed when first read: a comparison over millions of configurations ranks by
    # cost_per_million_tokens_usd and reads the split for the rows it keeps only.
    @cached_property
    def prefill_share(self) -> Array:
        """Share of a request's device time spent on its prompt (`prefill_share`)."""
        return prefill_share(
            prefill_s=self.prefill_device_s, decode_s=self.decode_device_s, prompt_tokens=self.prompt_tokens
        )

    @cached_property
    def _split(self) -> TokenCosts:
        return token_costs(
            cost_per_request_usd=self.cost_per_request_usd,
            prefill_share=self.prefill_share,
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens,
        )

    @property
    def prefill_cost_per_million_input_tokens_usd(self) -> Array:
        """The prefill share of a request's cost over its prompt tokens (NaN without prompt tokens)."""
        return self._split.prefill_cost_per_million_input_tokens_usd

    @property
    def decode_cost_per_million_output_tokens_usd(self) -> Array:
        """The decode share of a request's cost over its output tokens (NaN without output tokens)."""
        return self._split.decode_cost_per_million_output_tokens_usd

    @property
    def blended_cost_per_million_tokens_usd(self) -> Array:
        """All device time over prompt + output tokens (the workload's input:output ratio)."""
        return self._split.blended_cost_per_million_tokens_usd


def deployment_costs(
    *,
    mode: Array,
    num_gpus: Array,
    cloud_usd_per_hour: Array,
    purchase_usd: Array,
    tdp_watts: Array,
    requests_per_s: Array,
    output_tokens_per_s: Array,
    prompt_tokens: Array,
    output_tokens: Array,
    prefill_s: Array,
    decode_s: Array,
    assumptions: CostAssumptions,
) -> CostColumns:
    """Cost of `num_gpus` GPUs per hour and per month, and unit costs at the given throughput; `mode` holds
    `DeploymentMode` codes; the per-token split by phase from `prefill_s` and `decode_s`, the device time of
    each phase at the same operating point (`token_costs`)."""
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
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        prefill_device_s=prefill_s,
        decode_device_s=decode_s,
        price_missing=price_missing,
    )


def prefill_share(*, prefill_s: Array, decode_s: Array, prompt_tokens: Array) -> Array:
    """Share of a request's device time that its prompt takes: prefill_s / (prefill_s + decode_s), 0 when
    there are no prompt tokens to bill it to (module docstring)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(prompt_tokens > 0, prefill_s / (prefill_s + decode_s), 0.0)
    return np.clip(np.nan_to_num(share, nan=0.0), 0.0, 1.0)


@dataclass(frozen=True, kw_only=True)
class TokenCosts:
    prefill_cost_per_million_input_tokens_usd: Array
    decode_cost_per_million_output_tokens_usd: Array
    blended_cost_per_million_tokens_usd: Array


def token_costs(
    *, cost_per_request_usd: Array, prefill_share: Array, prompt_tokens: Array, output_tokens: Array
) -> TokenCosts:
    """$/1M input tokens = $/request x prefill share / prompt x 1e6, $/1M output tokens = $/request x
    (1 - prefill share) / output x 1e6, blended = $/request / (prompt + output) x 1e6 (module docstring); the
    first two add back up to $/request. NaN where a request has no tokens of the kind."""
    with np.errstate(divide="ignore", invalid="ignore"):
        per_input = np.where(
            prompt_tokens > 0, cost_per_request_usd * prefill_share / prompt_tokens * 1e6, np.nan
        )
        per_output = np.where(
            output_tokens > 0, cost_per_request_usd * (1.0 - prefill_share) / output_tokens * 1e6, np.nan
        )
        blended = cost_per_request_usd / np.maximum(prompt_tokens + output_tokens, 1.0) * 1e6
    return TokenCosts(
        prefill_cost_per_million_input_tokens_usd=per_input,
        decode_cost_per_million_output_tokens_usd=per_output,
        blended_cost_per_million_tokens_usd=blended,
    )
