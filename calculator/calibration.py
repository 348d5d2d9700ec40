"""Calibrated efficiency factors: what fraction of the roofline each framework family reaches on each
hardware class, plus fixed overheads. Values live in data/calibration.json, written by `calibrate`.

Lookup order for (family, hardware class) starts at "family/class" and ends at "*/*" (an older build,
FAMILY_PARENT, tries its framework's entries right after its own, and the framework its older build's:
FAMILY_KIN). In between, what the hardware achieves (fractions of peak bandwidth, compute and link) looks
at "*/class" before "family/*", and what the software costs (fixed and per-sequence overheads, all-reduce
latency) at "family/*" before "*/class" (and at FAMILY_PRIORS, where a framework has one, before both).
Each parameter falls back independently, so a sparse file still gives every configuration a value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from calculator.columns import HARDWARE_CLASSES, EfficiencyColumns

FAMILIES = (
    "tensorrt-llm",
    "tensorrt-llm-v0",
    "vllm",
    "sglang",
    "vllm-v0",
    "llama.cpp",
    "llama.cpp-2023",
    "exllamav2",
    "mlc-llm",
    "hf-transformers",
    "sglang-v0.4",
    "sglang-v0.3",
)
FAMILY_PARENT = {
    "llama.cpp-2023": "llama.cpp",
    "vllm-v0": "vllm",
    "tensorrt-llm-v0": "tensorrt-llm",
    "sglang-v0.4": "sglang",
    "sglang-v0.3": "sglang",
}
"""An older build falls back to its framework's entries before the hardware class's and the global ones,
and is fitted shrunk towards them."""
FAMILY_SIBLING = {"sglang": "vllm"}
"""A framework fitted as its own family but close to another codebase (SGLang's scheduler and kernels came
from the same generation as vLLM's, and it was calibrated as vLLM until it had rows of its own): it falls
back to the sibling's entries, and is fitted shrunk towards them; the sibling does not fall back to it."""

FAMILY_KIN = {
    **FAMILY_PARENT,
    **{framework: build for build, framework in FAMILY_PARENT.items() if framework not in FAMILY_SIBLING},
}
"""Where a framework has no entry of its own for a hardware class, the same codebase's other builds on that
class come before other frameworks: llama.cpp's kernels reach 13-31% of a datacenter GPU's bf16 peak in
prompt processing in both the 2023 builds (A100, H100 PCIe) and a 2026 one (H200, measured/), where the
compiled engines of "*/datacenter_gpu" reach about 55%. The newer build is fitted first, so its own
entries never start from the older one's. A framework with a sibling (SGLang) keeps falling back to the
sibling, not to its older builds (whose rows measure one model or card each)."""


def _family_chain(family: str) -> tuple[str, ...]:
    """The family, then its kin (the framework it is an older build of, or the older build of it), then the
    sibling the last of those falls back to (an older SGLang: SGLang, then vLLM)."""
    kin = FAMILY_KIN.get(family)
    chain = (family, kin) if kin else (family,)
    sibling = FAMILY_SIBLING.get(chain[-1])
    return (*chain, sibling) if sibling else chain


EFFICIENCY_PARAMS = tuple(f for f in EfficiencyColumns.__dataclass_fields__)
HARDWARE_PARAMS = (
    "bandwidth_efficiency",
    "compute_efficiency",
    "dequant_efficiency",
    "link_efficiency",
    "flops_per_watt",
)
"""What the hardware achieves; looked up per class before per family."""
SOFTWARE_PARAMS = tuple(p for p in EFFICIENCY_PARAMS if p not in HARDWARE_PARAMS)
"""What the framework costs; looked up per family before per class."""
DEFAULT_PATH = Path(__file__).parent / "data" / "calibration.json"

# Physics priors used where no measurement constrains a parameter: streaming kernels reach ~80% of peak
# bandwidth on GPUs (aiconfigurator mem_bw_empirical_scaling_factor 0.8), dense GEMMs ~60% of peak.
PRIORS: dict[str, float] = {
    "bandwidth_efficiency": 0.8,
    "compute_efficiency": 0.6,
    "decode_step_overhead_s": 0.0005,
    "prefill_overhead_s": 0.002,
    "layer_overhead_s": 10e-6,
    "allreduce_latency_s": 10e-6,
    "link_efficiency": 0.7,
    "per_sequence_overhead_s": 0.0,
    "expert_overhead_s": 0.0,
    "dequant_efficiency": 1.0,
    # No power cap unless measurements show one: 1e13 FLOP/s per W is far above any listed peak / TDP.
    "flops_per_watt": 1e13,
}
FAMILY_PRIORS: dict[str, dict[str, float]] = {
    # Eager PyTorch issues every operation from Python: a Llama decoder layer is ~40 kernel launches
    # (RMSNorm, rotary embedding, attention, MLP, cache append) at ~10 us of host time each, ~0.4 ms, and
    # generate() adds its per-step Python (logits processors, stopping criteria, cache bookkeeping). The
    # compiled engines' ~20 us per layer (CUDA graphs, fused kernels) is the wrong starting point for it.
    "hf-transformers": {"layer_overhead_s": 4e-4, "decode_step_overhead_s": 5e-3, "prefill_overhead_s": 5e-3},
}
"""Software priors of a framework whose host overhead is known to differ from the compiled engines' by an
order of magnitude: consulted after the framework's own entries and before the measured "*/class" and "*/*"
ones (which average the compiled engines), and the start its fit is shrunk towards."""
MEMORY_PRIORS: dict[str, float] = {"logits_factor": 0.95, "hidden_factor": 0.0, "base_bytes": 0.0}


@dataclass(frozen=True, kw_only=True)
class Calibration:
    entries: dict[str, dict[str, float]] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=lambda: dict(MEMORY_PRIORS))
    error_bands: dict[str, dict[str, float]] = field(default_factory=dict)
    """Cross-validated median absolute error per "family/class" and metric (fractions)."""
    meta: dict[str, Any] = field(default_factory=dict)

    def _lookup(self, family: str, hardware_class: str, name: str) -> tuple[float, str]:
        families = _family_chain(family)
        cells = tuple(f"{f}/{hardware_class}" for f in families)
        wide = tuple(f"{f}/*" for f in families)
        if name in HARDWARE_PARAMS:
            own, shared = (*cells, f"*/{hardware_class}", *wide, "*/*"), ()
        else:
            own, shared = (cells[0], wide[0], *cells[1:], *wide[1:]), (f"*/{hardware_class}", "*/*")
        found = self._first(own, name)
        if found is None and name in FAMILY_PRIORS.get(family, {}):
            return FAMILY_PRIORS[family][name], "prior"
        return found or self._first(shared, name) or (PRIORS[name], "prior")

    def _first(self, keys: tuple[str, ...], name: str) -> tuple[float, str] | None:
        for key in keys:
            entry = self.entries.get(key)
            if entry is not None and name in entry:
                return float(entry[name]), key
        return None

    def param(self, family: str, hardware_class: str, name: str) -> float:
        return self._lookup(family, hardware_class, name)[0]

    def sources(self, family: str, hardware_class: str) -> dict[str, str]:
        """Which entry supplied each parameter: "family/class", a wider entry, or "prior" (pure roofline
        physics, no measurement behind it)."""
        return {name: self._lookup(family, hardware_class, name)[1] for name in EFFICIENCY_PARAMS}

    def is_calibrated(self, family: str, hardware_class: str) -> bool:
        """True when measurements of this framework family or hardware class shaped the parameters."""
        return any(
            key in self.entries
            for key in (f"{family}/{hardware_class}", f"{family}/*", f"*/{hardware_class}")
        )

    def error_band(self, family: str, hardware_class: str, metric: str) -> float | None:
        keys = [k for f in _family_chain(family) for k in (f"{f}/{hardware_class}", f"{f}/*")]
        for key in (*keys, "*/*"):
            band = self.error_bands.get(key, {})
            if metric in band:
                return float(band[metric])
        return None

    def table(self) -> dict[str, np.ndarray]:
        """Each parameter as an array indexed [family_index, hardware_class_index] (built once per
        calibration: its entries are not changed after construction; fits build new calibrations)."""
        return self._table

    @cached_property
    def _table(self) -> dict[str, np.ndarray]:
        out = {}
        for name in EFFICIENCY_PARAMS:
            grid = np.empty((len(FAMILIES), len(HARDWARE_CLASSES)))
            for i, fam in enumerate(FAMILIES):
                for j, cls in enumerate(HARDWARE_CLASSES):
                    grid[i, j] = self.param(fam, cls, name)
            out[name] = grid
        return out

    def efficiency_columns(self, family_index: np.ndarray, class_index: np.ndarray) -> EfficiencyColumns:
        """Each parameter per row, looked up once per (family, class) pair the rows hold (a fit evaluates
        a new calibration hundreds of times on the same rows)."""
        fi = np.asarray(family_index).astype(np.intp)
        ci = np.asarray(class_index).astype(np.intp)
        fb, cb = np.broadcast_arrays(fi, ci)
        if fb.size > 4 * len(FAMILIES) * len(HARDWARE_CLASSES):  # a grid: index the whole table
            table = self.table()
            return EfficiencyColumns(**{name: table[name][fi, ci] for name in EFFICIENCY_PARAMS})
        pairs, inverse = np.unique(np.stack([fb.reshape(-1), cb.reshape(-1)]), axis=1, return_inverse=True)
        columns = {}
        for name in EFFICIENCY_PARAMS:
            values = np.array([self.param(FAMILIES[f], HARDWARE_CLASSES[c], name) for f, c in pairs.T])
            columns[name] = values[inverse.reshape(-1)].reshape(fb.shape)
        return EfficiencyColumns(**columns)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """A calibration from its to_json() form (a file, or one stored by the service)."""
        unknown = {n for e in data.get("entries", {}).values() for n in e} - set(EFFICIENCY_PARAMS)
        if unknown:
            raise ValueError(f"unknown calibration parameters {sorted(unknown)}")
        return cls(
            entries=data.get("entries", {}),
            memory={**MEMORY_PRIORS, **data.get("memory", {})},
            error_bands=data.get("error_bands", {}),
            meta=data.get("meta", {}),
        )

    def to_json(self) -> str:
        payload = {
            "meta": self.meta,
            "entries": self.entries,
            "memory": self.memory,
            "error_bands": self.error_bands,
        }
        return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Read a calibration file (the shipped one when path is None; priors only if it does not exist yet)."""
    target = Path(path) if path is not None else DEFAULT_PATH
    if not target.exists():
        if path is not None:
            raise FileNotFoundError(f"calibration file not found: {target}")
        return Calibration()
    try:
        return Calibration.from_dict(json.loads(target.read_text()))
    except ValueError as error:
        raise ValueError(f"{target}: {error}") from None


@lru_cache(maxsize=1)
def default_calibration() -> Calibration:
    return load_calibration()
