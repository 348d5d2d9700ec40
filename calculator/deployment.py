"""Resolve user inputs (names, numbers) into a validated `Deployment`, and turn deployments into a batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from calculator.calibration import Calibration
from calculator.catalog import default_catalog, resolve_hardware, resolve_model
from calculator.cost import DEPLOYMENT_MODES, DeploymentMode
from calculator.engine import ConfigBatch
from calculator.frameworks import FrameworkSpec, framework_for_version, resolve_framework
from calculator.grid import EntityTables, build_batch
from calculator.hf_config import model_from_hf_config
from calculator.precisions import PrecisionSpec, kv_bytes_per_element, resolve_precision
from calculator.specs import Catalog, HardwareSpec, ModelSpec


class InputError(ValueError):
    """A user input is invalid; `field` names it so callers can show the error next to that field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @property
    def errors(self) -> dict[str, str]:
        """Every invalid field and why (one here; `InputErrors` holds several)."""
        return {self.field: self.message}


class InputErrors(InputError):
    """Several independent inputs are invalid at once; `field` / `message` are the first of `errors`."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self._errors = dict(errors)

    @property
    def errors(self) -> dict[str, str]:
        return dict(self._errors)

    def __str__(self) -> str:
        return "; ".join(f"{field}: {message}" for field, message in self._errors.items())


@dataclass(frozen=True, kw_only=True)
class Deployment:
    model: ModelSpec
    hardware: HardwareSpec
    precision: PrecisionSpec
    framework: FrameworkSpec
    kv_cache_precision: str
    kv_bytes_per_element: float
    num_gpus: int
    """Every GPU of the deployment: tensor_parallel x pipeline_parallel x replicas."""
    tensor_parallel: int
    pipeline_parallel: int
    prompt_tokens: int
    output_tokens: int
    batch_size: int
    """Concurrent sequences; 0 = the largest batch that fits (offline max throughput)."""
    deployment_mode: str
    requests_per_hour: float
    request_rate: float | None = None
    concurrency: int | None = None
    burst_requests: int | None = None
    """Requests sent at once (a benchmark's "rate inf" run): served as a burst, see serving.py."""
    output_length_cv: float = 0.0
    """Coefficient of variation of output lengths in [0, 1]: 0 fixed, 1 exponential (about ShareGPT's)."""
    context_tokens: int = 0
    gpu_memory_utilization: float = 0.0
    framework_version: str = ""
    """The release asked for ("" = the newest era); `framework` is its era's entry."""
    attention_data_parallel: int = 1
    """Attention data-parallel groups among each stage's tensor_parallel GPUs (routed experts stay sharded
    over all of them: expert parallel); 1 = plain tensor parallelism (columns.WorkloadColumns)."""

    @property
    def replicas(self) -> int:
        """Data-parallel copies of the model, each on tensor_parallel x pipeline_parallel GPUs."""
        return self.num_gpus // (self.tensor_parallel * self.pipeline_parallel)

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    def replace(self, **changes: object) -> Deployment:
        """A copy with `changes` (what dataclasses.replace gives: the class has no __post_init__, so a field
        copy is the same object; 10x faster, which counts where advice builds hundreds of variants)."""
        unknown = changes.keys() - _DEPLOYMENT_FIELDS
        if unknown:
            raise TypeError(f"Deployment has no field {sorted(unknown)[0]!r}")
        new = object.__new__(Deployment)
        new.__dict__.update(self.__dict__, **changes)
        return new


_DEPLOYMENT_FIELDS = frozenset(f.name for f in fields(Deployment))


def _int(field: str, value: object, minimum: int) -> int:
    if isinstance(value, bool):
        raise InputError(field, "must be an integer")
    if isinstance(value, float) and not value.is_integer():
        raise InputError(field, f"must be a whole number, got {value!r}")
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise InputError(field, f"must be an integer, got {value!r}") from None
    if number < minimum:
        raise InputError(field, f"must be at least {minimum}, got {number}")
    return number


def _float(field: str, value: object, minimum: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(field, f"must be a number, got {value!r}") from None
    if not np.isfinite(number) or number < minimum:
        raise InputError(field, f"must be a finite number of at least {minimum:g}, got {value!r}")
    return number


def _model_from_name_or_config(model: str, catalog: Catalog) -> ModelSpec:
    """A catalog name, or a published config.json given as a file path or as JSON text."""
    text = model.strip()
    if text.startswith("{") or (text.endswith(".json") and Path(text).is_file()):
        spec, _warnings = model_from_hf_config(text if text.startswith("{") else Path(text))
        return spec
    return resolve_model(model, catalog)


def resolve_deployment(
    model: str | ModelSpec,
    hardware: str | HardwareSpec,
    *,
    precision: str = "fp16",
    kv_cache_precision: str | None = None,
    framework: str = "vllm",
    framework_version: str | None = None,
    num_gpus: int | None = None,
    tensor_parallel: int | None = None,
    pipeline_parallel: int = 1,
    replicas: int | None = None,
    prompt_tokens: int = 512,
    output_tokens: int = 256,
    batch_size: int = 1,
    deployment_mode: str = "cloud",
    requests_per_hour: float = 0.0,
    request_rate: float | None = None,
    concurrency: int | None = None,
    burst_requests: int | None = None,
    output_length_cv: float = 0.0,
    context_tokens: int = 0,
    gpu_memory_utilization: float = 0.0,
    attention_data_parallel: int = 1,
    catalog: Catalog | None = None,
) -> Deployment:
    """Validate inputs. num_gpus = tensor_parallel x pipeline_parallel x replicas: given num_gpus and tp (and
    pp), the GPUs beyond one tp x pp group are replicas; given num_gpus alone, tp = num_gpus / pp (one
    replica); num_gpus defaults to tp x pp x replicas (replicas default 1)."""
    catalog = catalog or default_catalog()
    try:
        model_spec = model if isinstance(model, ModelSpec) else _model_from_name_or_config(model, catalog)
    except KeyError as error:
        raise InputError("model", str(error).strip("'\"")) from None
    except ValueError as error:
        raise InputError("model", str(error)) from None
    try:
        hardware_spec = (
            hardware if isinstance(hardware, HardwareSpec) else resolve_hardware(hardware, catalog)
        )
    except KeyError as error:
        raise InputError("hardware", str(error).strip("'\"")) from None
    try:
        framework_spec = resolve_framework(framework)
    except KeyError as error:
        raise InputError("framework", str(error)) from None
    if framework_version is not None and not isinstance(framework_version, str):
        raise InputError(
            "framework_version", f"must be a release string such as '0.19.0', got {framework_version!r}"
        )
    # A release picks its engine era's entry (vLLM before 0.8: the V0 engine); none: the newest era.
    framework_spec = framework_for_version(framework_spec, framework_version)
    try:
        precision_spec = resolve_precision(precision, dict(framework_spec.native_precisions))
    except KeyError as error:
        raise InputError("precision", str(error)) from None
    try:
        kv_bytes = kv_bytes_per_element(kv_cache_precision, precision_spec)
    except KeyError as error:
        raise InputError("kv_cache_precision", str(error)) from None
    if deployment_mode not in DEPLOYMENT_MODES:
        raise InputError(
            "deployment_mode", f"must be one of {', '.join(DEPLOYMENT_MODES)}, got {deployment_mode!r}"
        )
    pp = _int("pipeline_parallel", pipeline_parallel, 1)
    copies = None if replicas is None else _int("replicas", replicas, 1)
    if tensor_parallel is None:
        tp = (_int("num_gpus", num_gpus, 1) // (pp * (copies or 1))) if num_gpus is not None else 1
        tp = max(tp, 1)
    else:
        tp = _int("tensor_parallel", tensor_parallel, 1)
    gpus = _int("num_gpus", num_gpus, 1) if num_gpus is not None else tp * pp * (copies or 1)
    if gpus % (tp * pp):
        raise InputError(
            "num_gpus",
            f"must be a multiple of tensor_parallel x pipeline_parallel = {tp * pp} (whole replicas), "
            f"got {gpus}",
        )
    if copies is not None and gpus != tp * pp * copies:
        raise InputError(
            "replicas",
            f"{copies} replicas of TP {tp} x PP {pp} need {tp * pp * copies} GPUs, not num_gpus = {gpus}",
        )
    dp = _int("attention_data_parallel", attention_data_parallel, 1)
    if tp % dp:
        raise InputError(
            "attention_data_parallel", f"must divide tensor_parallel = {tp} (groups of its GPUs), got {dp}"
        )
    attention_tp = tp // dp
    splits_heads = framework_spec.tp_splits_heads
    if attention_tp > 1 and splits_heads and model_spec.num_attention_heads % attention_tp:
        raise InputError(
            "tensor_parallel",
            f"{attention_tp} does not divide {model_spec.name}'s {model_spec.num_attention_heads} attention "
            "heads",
        )
    kv = model_spec.num_kv_heads
    if (
        attention_tp > 1
        and splits_heads
        and model_spec.attention != "mla"
        and kv % attention_tp
        and attention_tp % kv
    ):
        raise InputError(
            "tensor_parallel", f"{attention_tp} neither divides nor is a multiple of the {kv} KV heads"
        )
    online_modes = [
        name
        for name, value in (
            ("request_rate", request_rate),
            ("concurrency", concurrency),
            ("burst_requests", burst_requests),
        )
        if value is not None
    ]
    if len(online_modes) > 1:
        raise InputError(
            online_modes[1],
            f"give one of request_rate, concurrency, burst_requests, not {' and '.join(online_modes)}",
        )
    cv = _float("output_length_cv", output_length_cv, 0.0)
    if cv > 1.0:
        raise InputError("output_length_cv", f"must be between 0 and 1 (1 = exponential lengths), got {cv:g}")
    prompt = _int("prompt_tokens", prompt_tokens, 0)
    output = _int("output_tokens", output_tokens, 0)
    if prompt + output == 0:
        raise InputError("prompt_tokens", "prompt_tokens + output_tokens must be at least 1")
    return Deployment(
        model=model_spec,
        hardware=hardware_spec,
        precision=precision_spec,
        framework=framework_spec,
        kv_cache_precision=kv_cache_precision or ("fp32" if precision_spec.key == "fp32" else "fp16"),
        kv_bytes_per_element=kv_bytes,
        num_gpus=gpus,
        tensor_parallel=tp,
        pipeline_parallel=pp,
        prompt_tokens=prompt,
        output_tokens=output,
        batch_size=_int("batch_size", batch_size, 0),
        deployment_mode=deployment_mode,
        requests_per_hour=_float("requests_per_hour", requests_per_hour, 0.0),
        request_rate=None if request_rate is None else _float("request_rate", request_rate, 0.0),
        concurrency=None if concurrency is None else _int("concurrency", concurrency, 1),
        burst_requests=None if burst_requests is None else _int("burst_requests", burst_requests, 1),
        output_length_cv=cv,
        context_tokens=_int("context_tokens", context_tokens, 0),
        gpu_memory_utilization=_float("gpu_memory_utilization", gpu_memory_utilization, 0.0),
        framework_version=framework_version or "",
        attention_data_parallel=dp,
    )


def _index(items: list, key_of) -> tuple[list, np.ndarray]:  # type: ignore[no-untyped-def]
    unique: dict[object, int] = {}
    entities = []
    index = np.empty(len(items), dtype=np.intp)
    for i, item in enumerate(items):
        key = key_of(item)
        if key not in unique:
            unique[key] = len(entities)
            entities.append(item)
        index[i] = unique[key]
    return entities, index


BATCH_COLUMNS = (
    "kv_bytes_per_element",
    "tensor_parallel",
    "pipeline_parallel",
    "num_gpus",
    "prompt_tokens",
    "output_tokens",
    "batch_size",
    "requests_per_hour",
    "context_tokens",
    "gpu_memory_utilization",
    "attention_data_parallel",
)
"""The Deployment fields a ConfigBatch carries as float columns (deployment_mode goes as its enum code)."""


def _batch(
    tables: EntityTables,
    indexes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    column: Callable[[str], np.ndarray],
    deployment_mode: np.ndarray,
    calibration: Calibration | None,
) -> ConfigBatch:
    """build_batch with (model, hardware, precision, framework) row indexes and each BATCH_COLUMNS field."""
    mi, hi, pi, fi = indexes
    return build_batch(
        tables,
        model_index=mi,
        hardware_index=hi,
        precision_index=pi,
        framework_index=fi,
        deployment_mode=deployment_mode,
        calibration=calibration,
        **{name: column(name) for name in BATCH_COLUMNS},
    )


def deployments_batch(
    deployments: Sequence[Deployment], calibration: Calibration | None = None
) -> ConfigBatch:
    """One ConfigBatch row per deployment (entities are de-duplicated by identity of their spec: one object,
    one table row; equal copies get a row each, which costs a row, never a wrong figure)."""
    models, mi = _index([d.model for d in deployments], id)
    hardware, hi = _index([d.hardware for d in deployments], id)
    precisions, pi = _index([d.precision for d in deployments], lambda s: s.key)
    frameworks, fi = _index([d.framework for d in deployments], lambda s: s.key)
    tables = EntityTables(models=models, hardware=hardware, precisions=precisions, frameworks=frameworks)

    def column(name: str) -> np.ndarray:
        return np.array([float(getattr(d, name) or 0) for d in deployments])

    modes = np.array([DeploymentMode.of(d.deployment_mode) for d in deployments])
    return _batch(tables, (mi, hi, pi, fi), column, modes, calibration)


def variants_batch(
    base: Deployment,
    variants: Sequence[tuple[PrecisionSpec, HardwareSpec, int]],
    calibration: Calibration | None = None,
) -> ConfigBatch:
    """`deployments_batch` of base.replace(precision=p, hardware=h, tensor_parallel=tp, num_gpus=tp x pp) for
    each (p, h, tp), built from columns without the deployments (advice evaluates hundreds per estimate).
    The alternatives run plain tensor parallelism (attention_data_parallel 1: the base's groups need not
    divide another TP degree)."""
    precisions, pi = _index([v[0] for v in variants], lambda s: s.key)
    hardware, hi = _index([v[1] for v in variants], id)
    n = len(variants)
    tp = np.array([float(v[2]) for v in variants])
    tables = EntityTables(
        models=[base.model], hardware=hardware, precisions=precisions, frameworks=[base.framework]
    )
    first = np.zeros(n, dtype=np.intp)
    varied = {
        "tensor_parallel": tp,
        "num_gpus": tp * base.pipeline_parallel,
        "attention_data_parallel": np.ones(n),
    }

    def column(name: str) -> np.ndarray:
        return varied[name] if name in varied else np.full(n, float(getattr(base, name) or 0))

    modes = np.full(n, DeploymentMode.of(base.deployment_mode), dtype=np.int64)
    return _batch(tables, (first, hi, pi, first), column, modes, calibration)
