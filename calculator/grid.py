"""Build `ConfigBatch`es: from a list of named configurations, or as the cartesian product of a grid.

Entities (models, hardware, precisions, frameworks) are turned into small column tables once; configurations
only hold integer indices into them, so a million-row grid is a handful of numpy gathers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calculator.calibration import FAMILIES, Calibration, default_calibration
from calculator.columns import (
    FrameworkColumns,
    HardwareColumns,
    ModelColumns,
    PrecisionColumns,
    WorkloadColumns,
)
from calculator.cost import DEPLOYMENT_MODES
from calculator.engine import ConfigBatch
from calculator.frameworks import FrameworkSpec
from calculator.precisions import PrecisionSpec
from calculator.specs import HardwareSpec, ModelSpec

CUDA_ONLY = {"tensorrt-llm", "exllamav2", "sglang"}
NVIDIA_ONLY = {"tensorrt-llm"}
GPU_FRAMEWORKS = {"tensorrt-llm", "exllamav2", "sglang", "vllm", "hf-transformers"}
LLAMA_CPP_PRECISIONS = {"fp32", "fp16", "bf16", "q4_0", "q4_k_m", "q5_k_m", "q8_0", "mxfp4"}


def compat_reasons(framework: FrameworkSpec, precision: PrecisionSpec, hardware: HardwareSpec) -> list[str]:
    """Why this framework cannot run this precision on this hardware (empty when it can)."""
    reasons = []
    if precision.frameworks and framework.key not in precision.frameworks:
        reasons.append(f"{precision.key} runs only on {', '.join(precision.frameworks)}, not {framework.key}")
    if framework.key == "llama.cpp" and precision.key not in LLAMA_CPP_PRECISIONS:
        reasons.append(f"llama.cpp loads GGUF files (fp16, q8_0, q4_k_m, ...), not {precision.key}")
    if framework.key == "exllamav2" and not (precision.key.startswith("exl2") or precision.key in {"int4-gptq", "fp16"}):
        reasons.append(f"ExLlamaV2 runs EXL2, GPTQ or fp16 weights, not {precision.key}")
    if hardware.kind in ("cpu", "apple") and framework.key in GPU_FRAMEWORKS - {"vllm", "hf-transformers"}:
        reasons.append(f"{framework.key} needs a discrete GPU; {hardware.name} is {hardware.kind}")
    if hardware.kind == "apple" and framework.key == "vllm":
        reasons.append("vLLM has no Metal backend")
    vendor = hardware.vendor.lower()
    if framework.key in NVIDIA_ONLY and vendor and vendor != "nvidia":
        reasons.append(f"{framework.key} runs on NVIDIA GPUs only")
    if framework.key == "tensorrt-llm" and precision.compute_path == "fp8" and hardware.fp8_dense_flops <= 0:
        reasons.append(f"{hardware.name} has no FP8 tensor cores (TensorRT-LLM FP8 needs Ada, Hopper or newer)")
    if precision.compute_path == "fp4" and hardware.fp4_dense_flops <= 0 and framework.key not in {"vllm", "sglang"}:
        reasons.append(f"{hardware.name} has no FP4 tensor cores (Blackwell)")
    return reasons


@dataclass(frozen=True, kw_only=True)
class EntityTables:
    models: list[ModelSpec]
    hardware: list[HardwareSpec]
    precisions: list[PrecisionSpec]
    frameworks: list[FrameworkSpec]

    def compat_table(self) -> np.ndarray:
        """Blocker bit 16 per [framework, precision, hardware]."""
        table = np.zeros((len(self.frameworks), len(self.precisions), len(self.hardware)), dtype=np.int64)
        for i, fw in enumerate(self.frameworks):
            for j, pr in enumerate(self.precisions):
                for k, hw in enumerate(self.hardware):
                    if compat_reasons(fw, pr, hw):
                        table[i, j, k] = 16
        return table


def build_batch(
    tables: EntityTables,
    *,
    model_index: np.ndarray,
    hardware_index: np.ndarray,
    precision_index: np.ndarray,
    framework_index: np.ndarray,
    kv_bytes_per_element: np.ndarray,
    tensor_parallel: np.ndarray,
    pipeline_parallel: np.ndarray,
    num_gpus: np.ndarray,
    prompt_tokens: np.ndarray,
    output_tokens: np.ndarray,
    batch_size: np.ndarray,
    deployment_mode: np.ndarray,
    requests_per_hour: np.ndarray,
    context_tokens: np.ndarray | None = None,
    gpu_memory_utilization: np.ndarray | None = None,
    calibration: Calibration | None = None,
) -> ConfigBatch:
    """Gather entity columns for each configuration and attach the calibrated efficiencies."""
    calibration = calibration or default_calibration()
    n = len(model_index)
    zeros = np.zeros(n)
    hw_cols = HardwareColumns.from_specs(tables.hardware).take(hardware_index)
    family_of_framework = np.array([FAMILIES.index(f.family) for f in tables.frameworks], dtype=np.intp)
    efficiency = calibration.efficiency_columns(family_of_framework[framework_index], hw_cols.hardware_class)
    workload = WorkloadColumns(
        tensor_parallel=np.asarray(tensor_parallel, dtype=np.float64),
        pipeline_parallel=np.asarray(pipeline_parallel, dtype=np.float64),
        num_gpus=np.asarray(num_gpus, dtype=np.float64),
        prompt_tokens=np.asarray(prompt_tokens, dtype=np.float64),
        output_tokens=np.asarray(output_tokens, dtype=np.float64),
        batch_size=np.asarray(batch_size, dtype=np.float64),
        kv_bytes_per_element=np.asarray(kv_bytes_per_element, dtype=np.float64),
        context_tokens=zeros if context_tokens is None else np.asarray(context_tokens, dtype=np.float64),
        gpu_memory_utilization=zeros if gpu_memory_utilization is None
        else np.asarray(gpu_memory_utilization, dtype=np.float64),
    )
    compat = tables.compat_table()[framework_index, precision_index, hardware_index]
    mem = calibration.memory
    return ConfigBatch(
        model=ModelColumns.from_specs(tables.models).take(model_index),
        hardware=hw_cols,
        precision=PrecisionColumns.from_specs(tables.precisions).take(precision_index),
        framework=FrameworkColumns.from_specs(tables.frameworks).take(framework_index),
        efficiency=efficiency,
        workload=workload,
        deployment_mode=np.asarray(deployment_mode, dtype=np.float64),
        requests_per_hour=np.asarray(requests_per_hour, dtype=np.float64),
        compat_blockers=compat,
        memory_logits_factor=float(mem["logits_factor"]),
        memory_hidden_factor=float(mem["hidden_factor"]),
        memory_base_bytes=float(mem["base_bytes"]),
    )


def grid_batch(
    tables: EntityTables,
    *,
    tensor_parallel: Sequence[int] = (1,),
    batch_sizes: Sequence[int] = (0,),
    prompt_tokens: float = 512,
    output_tokens: float = 256,
    kv_bytes_per_element: float = 2.0,
    deployment_mode: str = "cloud",
    requests_per_hour: float = 0.0,
    calibration: Calibration | None = None,
) -> tuple[ConfigBatch, dict[str, np.ndarray]]:
    """Cartesian product models x hardware x precisions x frameworks x tensor_parallel x batch_sizes
    (num_gpus = tensor_parallel, pp = 1). Returns the batch and the index arrays that name each row."""
    shape = (len(tables.models), len(tables.hardware), len(tables.precisions), len(tables.frameworks),
             len(tensor_parallel), len(batch_sizes))
    mi, hi, pi, fi, ti, bi = (a.ravel() for a in np.indices(shape, dtype=np.intp))
    tp = np.asarray(tensor_parallel, dtype=np.float64)[ti]
    n = len(mi)
    batch = build_batch(
        tables, model_index=mi, hardware_index=hi, precision_index=pi, framework_index=fi,
        kv_bytes_per_element=np.full(n, kv_bytes_per_element), tensor_parallel=tp, pipeline_parallel=np.ones(n),
        num_gpus=tp, prompt_tokens=np.full(n, float(prompt_tokens)), output_tokens=np.full(n, float(output_tokens)),
        batch_size=np.asarray(batch_sizes, dtype=np.float64)[bi],
        deployment_mode=np.full(n, float(DEPLOYMENT_MODES.index(deployment_mode))),
        requests_per_hour=np.full(n, float(requests_per_hour)), calibration=calibration,
    )
    return batch, {"model": mi, "hardware": hi, "precision": pi, "framework": fi, "tensor_parallel": ti,
                   "batch_size": bi}
