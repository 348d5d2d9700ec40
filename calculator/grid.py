"""Build `ConfigBatch`es: from a list of named configurations, or as the cartesian product of a grid.

Entities (models, hardware, precisions, frameworks) are turned into small column tables once; configurations
only hold integer indices into them, so a million-row grid is a handful of numpy gathers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np

from calculator.calibration import FAMILIES, Calibration, default_calibration
from calculator.columns import (
    FrameworkColumns,
    HardwareColumns,
    ModelColumns,
    PrecisionColumns,
    WorkloadColumns,
)
from calculator.cost import DeploymentMode
from calculator.engine import Blocker, ConfigBatch
from calculator.frameworks import FrameworkSpec
from calculator.precisions import PrecisionSpec
from calculator.specs import HardwareSpec, ModelSpec


def loads_weights(framework: FrameworkSpec, precision: PrecisionSpec) -> bool:
    """Whether the framework reads this precision's files (`FrameworkSpec.weight_formats`)."""
    if framework.weight_formats is None:
        return True
    return framework.key in precision.frameworks or precision.key in framework.weight_formats


def compat_reasons(framework: FrameworkSpec, precision: PrecisionSpec, hardware: HardwareSpec) -> list[str]:
    """Why this framework cannot run this precision on this hardware (empty when it can)."""
    reasons = []
    if max(hardware.fp32_flops, hardware.fp16_dense_flops, hardware.bf16_dense_flops) <= 0:
        reasons.append(f"the catalog has no compute throughput for {hardware.name}; add it before estimating")
    if precision.frameworks and framework.key not in precision.frameworks:
        reasons.append(f"{precision.key} runs only on {', '.join(precision.frameworks)}, not {framework.key}")
    if not loads_weights(framework, precision):
        reasons.append(f"{framework.name} {framework.weight_formats_note}, not {precision.key}")
    if hardware.kind in ("cpu", "apple") and framework.needs_discrete_gpu:
        reasons.append(f"{framework.key} needs a discrete GPU; {hardware.name} is {hardware.kind}")
    if hardware.kind == "apple" and framework.no_metal_backend:
        reasons.append(f"{framework.name} has no Metal backend")
    if framework.apple_only and hardware.kind != "apple":
        reasons.append(f"{framework.key} runs on Apple silicon GPUs only; {hardware.name} is {hardware.kind}")
    vendor = hardware.vendor.lower()
    if framework.nvidia_only and vendor and vendor != "nvidia":
        reasons.append(f"{framework.key} runs on NVIDIA GPUs only")
    if (
        framework.fp8_needs_fp8_tensor_cores
        and precision.compute_path == "fp8"
        and hardware.fp8_dense_flops <= 0
    ):
        reasons.append(
            f"{hardware.name} has no FP8 tensor cores ({framework.name} FP8 needs Ada, Hopper or newer)"
        )
    if (
        precision.compute_path == "fp4"
        and hardware.fp4_dense_flops <= 0
        and not framework.fp4_without_fp4_tensor_cores
    ):
        reasons.append(f"{hardware.name} has no FP4 tensor cores (Blackwell)")
    return reasons


@dataclass(frozen=True, kw_only=True)
class EntityTables:
    models: list[ModelSpec]
    hardware: list[HardwareSpec]
    precisions: list[PrecisionSpec]
    frameworks: list[FrameworkSpec]

    @cached_property
    def model_columns(self) -> ModelColumns:
        return ModelColumns.from_specs(self.models)

    @cached_property
    def hardware_columns(self) -> HardwareColumns:
        return HardwareColumns.from_specs(self.hardware)

    @cached_property
    def precision_columns(self) -> PrecisionColumns:
        return PrecisionColumns.from_specs(self.precisions)

    @cached_property
    def framework_columns(self) -> FrameworkColumns:
        return FrameworkColumns.from_specs(self.frameworks)

    @cached_property
    def family_of_framework(self) -> np.ndarray:
        return np.array([FAMILIES.index(f.family) for f in self.frameworks], dtype=np.intp)

    @cached_property
    def compat(self) -> np.ndarray:
        return self.compat_table()

    def compat_table(self) -> np.ndarray:
        """`Blocker.PRECISION_UNSUPPORTED` or 0 per [framework, precision, hardware]."""
        table = np.zeros((len(self.frameworks), len(self.precisions), len(self.hardware)), dtype=np.int64)
        for i, fw in enumerate(self.frameworks):
            for j, pr in enumerate(self.precisions):
                for k, hw in enumerate(self.hardware):
                    if compat_reasons(fw, pr, hw):
                        table[i, j, k] = Blocker.PRECISION_UNSUPPORTED
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
    attention_data_parallel: np.ndarray | None = None,
    calibration: Calibration | None = None,
) -> ConfigBatch:
    """Gather entity columns for each configuration and attach the calibrated efficiencies;
    `deployment_mode` holds `DeploymentMode` codes."""
    calibration = calibration or default_calibration()
    n = len(model_index)
    zeros = np.zeros(n)
    hw_cols = tables.hardware_columns.take(hardware_index)
    efficiency = calibration.efficiency_columns(
        tables.family_of_framework[framework_index], hw_cols.hardware_class
    )
    workload = WorkloadColumns(
        tensor_parallel=np.asarray(tensor_parallel, dtype=np.float64),
        pipeline_parallel=np.asarray(pipeline_parallel, dtype=np.float64),
        num_gpus=np.asarray(num_gpus, dtype=np.float64),
        prompt_tokens=np.asarray(prompt_tokens, dtype=np.float64),
        output_tokens=np.asarray(output_tokens, dtype=np.float64),
        batch_size=np.asarray(batch_size, dtype=np.float64),
        kv_bytes_per_element=np.asarray(kv_bytes_per_element, dtype=np.float64),
        context_tokens=zeros if context_tokens is None else np.asarray(context_tokens, dtype=np.float64),
        gpu_memory_utilization=zeros
        if gpu_memory_utilization is None
        else np.asarray(gpu_memory_utilization, dtype=np.float64),
        attention_data_parallel=np.ones(n)
        if attention_data_parallel is None
        else np.asarray(attention_data_parallel, dtype=np.float64),
    )
    compat = tables.compat[framework_index, precision_index, hardware_index]
    mem = calibration.memory
    return ConfigBatch(
        model=tables.model_columns.take(model_index),
        hardware=hw_cols,
        precision=tables.precision_columns.take(precision_index),
        framework=tables.framework_columns.take(framework_index),
        efficiency=efficiency,
        workload=workload,
        deployment_mode=np.asarray(deployment_mode, dtype=np.int64),
        requests_per_hour=np.asarray(requests_per_hour, dtype=np.float64),
        compat_blockers=compat,
        memory_logits_factor=float(mem["logits_factor"]),
        memory_hidden_factor=float(mem["hidden_factor"]),
        memory_base_bytes=float(mem["base_bytes"]),
    )


@dataclass(frozen=True, kw_only=True)
class Grid:
    """A cartesian product models x hardware x precisions x frameworks x tensor_parallel x batch_sizes
    (num_gpus = tensor_parallel, pp = 1) over shared workload settings; rows are built chunk by chunk."""

    tables: EntityTables
    tensor_parallel: Sequence[int] = (1,)
    batch_sizes: Sequence[int] = (0,)
    prompt_tokens: float = 512
    output_tokens: float = 256
    kv_bytes_per_element: float = 2.0
    deployment_mode: str = "cloud"
    requests_per_hour: float = 0.0

    @property
    def shape(self) -> tuple[int, ...]:
        t = self.tables
        return (
            len(t.models),
            len(t.hardware),
            len(t.precisions),
            len(t.frameworks),
            len(self.tensor_parallel),
            len(self.batch_sizes),
        )

    def __len__(self) -> int:
        return int(np.prod(self.shape))

    def indices(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """Entity indices of rows [start, stop) in C order of `shape`."""
        flat = np.arange(start, len(self) if stop is None else min(stop, len(self)), dtype=np.intp)
        names = ("model", "hardware", "precision", "framework", "tensor_parallel", "batch_size")
        return dict(zip(names, np.unravel_index(flat, self.shape), strict=True))

    def batch(
        self, start: int = 0, stop: int | None = None, calibration: Calibration | None = None
    ) -> tuple[ConfigBatch, dict[str, np.ndarray]]:
        idx = self.indices(start, stop)
        n = len(idx["model"])
        tp = np.asarray(self.tensor_parallel, dtype=np.float64)[idx["tensor_parallel"]]
        batch = build_batch(
            self.tables,
            model_index=idx["model"],
            hardware_index=idx["hardware"],
            precision_index=idx["precision"],
            framework_index=idx["framework"],
            kv_bytes_per_element=np.full(n, self.kv_bytes_per_element),
            tensor_parallel=tp,
            pipeline_parallel=np.ones(n),
            num_gpus=tp,
            prompt_tokens=np.full(n, float(self.prompt_tokens)),
            output_tokens=np.full(n, float(self.output_tokens)),
            batch_size=np.asarray(self.batch_sizes, dtype=np.float64)[idx["batch_size"]],
            deployment_mode=np.full(n, DeploymentMode.of(self.deployment_mode)),
            requests_per_hour=np.full(n, float(self.requests_per_hour)),
            calibration=calibration,
        )
        return batch, idx

    def chunks(self, size: int = 65_536) -> Iterator[tuple[int, int]]:
        for start in range(0, len(self), size):
            yield start, min(start + size, len(self))


def _on_axis(columns: Any, axis: int, ndim: int = 6) -> Any:
    shape = [1] * ndim
    shape[axis] = -1
    return type(columns)(**{f.name: getattr(columns, f.name).reshape(shape) for f in fields(columns)})


def _scalar(value: float, ndim: int = 6) -> np.ndarray:
    return np.full((1,) * ndim, float(value))


def tensor_batch(
    grid: Grid, models: slice = slice(None), calibration: Calibration | None = None
) -> ConfigBatch:
    """The grid (or a slice of its models) as broadcast columns of shape (models, hardware, precisions,
    frameworks, tensor_parallel, batch_sizes): entity columns keep their own axis, so per-entity work is
    done once per entity rather than once per configuration."""
    calibration = calibration or default_calibration()
    t = grid.tables
    hw = _on_axis(t.hardware_columns, 1)
    family = t.family_of_framework.reshape(1, 1, 1, -1, 1, 1)
    tp = np.asarray(grid.tensor_parallel, dtype=np.float64).reshape(1, 1, 1, 1, -1, 1)
    workload = WorkloadColumns(
        tensor_parallel=tp,
        pipeline_parallel=_scalar(1.0),
        num_gpus=tp,
        prompt_tokens=_scalar(grid.prompt_tokens),
        output_tokens=_scalar(grid.output_tokens),
        batch_size=np.asarray(grid.batch_sizes, dtype=np.float64).reshape(1, 1, 1, 1, 1, -1),
        kv_bytes_per_element=_scalar(grid.kv_bytes_per_element),
        context_tokens=_scalar(0.0),
        gpu_memory_utilization=_scalar(0.0),
        attention_data_parallel=_scalar(1.0),
    )
    mem = calibration.memory
    return ConfigBatch(
        model=_on_axis(t.model_columns.take(models), 0),
        hardware=hw,
        precision=_on_axis(t.precision_columns, 2),
        framework=_on_axis(t.framework_columns, 3),
        efficiency=calibration.efficiency_columns(family, hw.hardware_class),
        workload=workload,
        deployment_mode=np.full((1,) * 6, DeploymentMode.of(grid.deployment_mode)),
        requests_per_hour=_scalar(grid.requests_per_hour),
        compat_blockers=t.compat.transpose(2, 1, 0)[None, :, :, :, None, None],
        memory_logits_factor=float(mem["logits_factor"]),
        memory_hidden_factor=float(mem["hidden_factor"]),
        memory_base_bytes=float(mem["base_bytes"]),
    )


def grid_batch(
    tables: EntityTables, *, calibration: Calibration | None = None, **settings: Any
) -> tuple[ConfigBatch, dict[str, np.ndarray]]:
    """The whole grid as one batch (see `Grid` for the settings; use `Grid.chunks` for large grids)."""
    return Grid(tables=tables, **settings).batch(calibration=calibration)


def parallel_tensor_batch(
    tables: EntityTables,
    *,
    models: slice = slice(None),
    hardware: slice = slice(None),
    tensor_parallel: Sequence[int],
    pipeline_parallel: Sequence[int],
    batch_sizes: Sequence[int],
    kv_bytes_per_element: Sequence[float],
    deployment_modes: Sequence[str],
    prompt_tokens: float,
    output_tokens: float,
    requests_per_hour: float = 0.0,
    calibration: Calibration | None = None,
) -> ConfigBatch:
    """A 7-D variant of `tensor_batch` for the bulk comparisons: broadcast columns of shape
    (models, hardware, precisions, frameworks, parallel, batch_sizes, deployment_modes).

    The parallel axis lists (tensor_parallel[i], pipeline_parallel[i]) pairs, num_gpus = tp x pp;
    kv_bytes_per_element is given per precision (on the precision axis); `models` and `hardware` select
    a block of the entity tables (the compatibility table is sliced to match)."""
    calibration = calibration or default_calibration()
    if len(tensor_parallel) != len(pipeline_parallel):
        raise ValueError("tensor_parallel and pipeline_parallel must list the same number of pairs")
    if len(kv_bytes_per_element) != len(tables.precisions):
        raise ValueError("kv_bytes_per_element needs one value per precision")
    ndim = 7

    def axis(values: Any, index: int, dtype: type = np.float64) -> np.ndarray:
        shape = [1] * ndim
        shape[index] = -1
        return np.asarray(values, dtype=dtype).reshape(shape)

    hw = _on_axis(tables.hardware_columns.take(np.arange(len(tables.hardware))[hardware]), 1, ndim)
    family = tables.family_of_framework.reshape(1, 1, 1, -1, 1, 1, 1)
    tp = axis(tensor_parallel, 4)
    pp = axis(pipeline_parallel, 4)
    workload = WorkloadColumns(
        tensor_parallel=tp,
        pipeline_parallel=pp,
        num_gpus=tp * pp,
        prompt_tokens=_scalar(prompt_tokens, ndim),
        output_tokens=_scalar(output_tokens, ndim),
        batch_size=axis(batch_sizes, 5),
        kv_bytes_per_element=axis(kv_bytes_per_element, 2),
        context_tokens=_scalar(0.0, ndim),
        gpu_memory_utilization=_scalar(0.0, ndim),
        attention_data_parallel=_scalar(1.0, ndim),
    )
    mem = calibration.memory
    compat = tables.compat[:, :, hardware].transpose(2, 1, 0)
    return ConfigBatch(
        model=_on_axis(tables.model_columns.take(np.arange(len(tables.models))[models]), 0, ndim),
        hardware=hw,
        precision=_on_axis(tables.precision_columns, 2, ndim),
        framework=_on_axis(tables.framework_columns, 3, ndim),
        efficiency=calibration.efficiency_columns(family, hw.hardware_class),
        workload=workload,
        deployment_mode=axis([DeploymentMode.of(m) for m in deployment_modes], 6, np.int64),
        requests_per_hour=_scalar(requests_per_hour, ndim),
        compat_blockers=compat[None, :, :, :, None, None, None],
        memory_logits_factor=float(mem["logits_factor"]),
        memory_hidden_factor=float(mem["hidden_factor"]),
        memory_base_bytes=float(mem["base_bytes"]),
    )


def flatten_rows(batch: ConfigBatch, shape: tuple[int, ...], index: np.ndarray) -> ConfigBatch:
    """The configurations at flat `index` of a broadcast (grid-shaped) batch as a 1-D batch: every column is
    broadcast to `shape` and gathered, so row i of the result is configuration index[i] of the grid."""

    def gather(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return np.broadcast_to(value, shape).reshape(-1)[index]
        if hasattr(value, "__dataclass_fields__"):
            return type(value)(**{f.name: gather(getattr(value, f.name)) for f in fields(value)})
        return value

    return type(batch)(**{f.name: gather(getattr(batch, f.name)) for f in fields(batch)})
