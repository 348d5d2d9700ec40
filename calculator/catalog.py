"""Load the model and hardware catalog from the CSV files in ``calculator/data``.

This is the only file I/O in the engine. Units are converted to SI on load:
GiB -> bytes (x 2**30), GB/s -> bytes/s (x 1e9), TFLOPS/TOPS -> FLOP/s (x 1e12), microseconds -> seconds.
"""

from __future__ import annotations

import csv
import difflib
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calculator.specs import Catalog, HardwareSpec, ModelSpec

__all__ = [
    "DATA_DIR",
    "CatalogError",
    "UnknownNameError",
    "default_catalog",
    "load_catalog",
    "normalize_name",
    "resolve_hardware",
    "resolve_model",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
MODELS_CSV = DATA_DIR / "models.csv"
HARDWARE_CSV = DATA_DIR / "hardware.csv"

_ATTENTION = {"mha", "gqa", "mqa", "mla"}
_KINDS = {"datacenter_gpu", "consumer_gpu", "apple", "cpu", "edge"}
_GIB = 2**30


class CatalogError(ValueError):
    """A catalog CSV row is malformed; the message names the file, the row key and the column."""


class UnknownNameError(KeyError):
    """No model or hardware matches the given name; the message lists the closest matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class _Row:
    """Typed access to one CSV row with error messages that name file, key and column."""

    def __init__(self, path: Path, line: int, raw: dict[str, str]) -> None:
        self.path = path
        self.line = line
        self.raw = raw
        self.key = (raw.get("key") or "").strip()

    def fail(self, column: str, problem: str) -> CatalogError:
        return CatalogError(
            f"{self.path.name} line {self.line} (key {self.key!r}), column {column!r}: {problem}"
        )

    def text(self, column: str) -> str:
        if column not in self.raw:
            raise self.fail(column, "column missing")
        return (self.raw[column] or "").strip()

    def _number(self, column: str, convert: Callable[[str], Any], required: bool, positive: bool) -> Any:
        value = self.text(column)
        if not value:
            if required:
                raise self.fail(column, "value required")
            return convert("0")
        try:
            number = convert(value)
        except ValueError:
            raise self.fail(column, f"not a number: {value!r}") from None
        if number < 0 or (positive and number == 0):
            raise self.fail(column, f"must be {'positive' if positive else 'non-negative'}, got {value!r}")
        return number

    def integer(self, column: str, required: bool = False, positive: bool = False) -> int:
        return self._number(column, int, required, positive)

    def real(self, column: str, required: bool = False, positive: bool = False) -> float:
        return self._number(column, float, required, positive)

    def boolean(self, column: str) -> bool:
        value = self.text(column).lower()
        if value in ("true", "1", "yes"):
            return True
        if value in ("false", "0", "no", ""):
            return False
        raise self.fail(column, f"not a boolean: {value!r}")

    def aliases(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.text("aliases").split(";") if a.strip())


def _read_rows(path: Path, columns: list[str]) -> list[_Row]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise CatalogError(f"{path.name}: missing columns {missing}")
            rows = [_Row(path, i + 2, raw) for i, raw in enumerate(reader)]
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc}") from exc
    seen: set[str] = set()
    for row in rows:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", row.key):
            raise row.fail("key", "keys are lowercase letters, digits, '.' and '-'")
        if row.key in seen:
            raise row.fail("key", "duplicate key")
        seen.add(row.key)
        if not row.text("source"):
            raise row.fail("source", "every row needs a source")
    return rows


_MODEL_COLUMNS = [
    "key",
    "name",
    "family",
    "aliases",
    "params_total",
    "params_active",
    "params_embedding",
    "params_routed_experts",
    "params_vision",
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "num_kv_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "max_context_tokens",
    "attention",
    "kv_lora_rank",
    "qk_rope_head_dim",
    "sliding_window_tokens",
    "sliding_window_layers",
    "moe_num_experts",
    "moe_experts_per_token",
    "moe_intermediate_size",
    "moe_shared_experts",
    "tied_embeddings",
    "native_precision",
    "proxy_note",
    "notes",
    "source",
]
_HARDWARE_COLUMNS = [
    "key",
    "name",
    "vendor",
    "kind",
    "aliases",
    "memory_gib",
    "usable_memory_gib",
    "memory_bandwidth_gbps",
    "fp32_tflops",
    "tf32_tflops_dense",
    "fp16_tflops_dense",
    "bf16_tflops_dense",
    "fp8_tflops_dense",
    "fp4_tflops_dense",
    "int8_tops_dense",
    "int4_tops_dense",
    "tdp_watts",
    "interconnect_gbps",
    "interconnect_latency_us",
    "cloud_usd_per_hour",
    "cloud_price_source",
    "purchase_usd",
    "notes",
    "source",
]


def _model(row: _Row) -> ModelSpec:
    total = row.integer("params_total", required=True, positive=True)
    active = row.integer("params_active", required=True, positive=True)
    if active > total:
        raise row.fail("params_active", f"{active} exceeds params_total {total}")
    heads = row.integer("num_attention_heads", required=True, positive=True)
    kv_heads = row.integer("num_kv_heads", required=True, positive=True)
    if heads % kv_heads:
        raise row.fail(
            "num_kv_heads", f"num_attention_heads {heads} is not divisible by num_kv_heads {kv_heads}"
        )
    attention = row.text("attention") or "gqa"
    if attention not in _ATTENTION:
        raise row.fail("attention", f"must be one of {sorted(_ATTENTION)}, got {attention!r}")
    experts = row.integer("moe_num_experts")
    per_token = row.integer("moe_experts_per_token")
    if experts and not 0 < per_token <= experts:
        raise row.fail("moe_experts_per_token", f"must be in 1..{experts}, got {per_token}")
    if attention == "mla" and not row.integer("kv_lora_rank"):
        raise row.fail("kv_lora_rank", "required for mla attention")
    layers = row.integer("num_layers", required=True, positive=True)
    if row.integer("sliding_window_layers") > layers:
        raise row.fail("sliding_window_layers", f"exceeds num_layers {layers}")
    return ModelSpec(
        key=row.key,
        name=row.text("name") or row.key,
        family=row.text("family"),
        params_total=total,
        params_active=active,
        params_embedding=row.integer("params_embedding"),
        params_routed_experts=row.integer("params_routed_experts"),
        params_vision=row.integer("params_vision"),
        num_layers=layers,
        hidden_size=row.integer("hidden_size", required=True, positive=True),
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=row.integer("head_dim", required=True, positive=True),
        intermediate_size=row.integer("intermediate_size", required=True, positive=True),
        vocab_size=row.integer("vocab_size", required=True, positive=True),
        max_context_tokens=row.integer("max_context_tokens", required=True, positive=True),
        attention=attention,  # type: ignore[arg-type]
        kv_lora_rank=row.integer("kv_lora_rank"),
        qk_rope_head_dim=row.integer("qk_rope_head_dim"),
        sliding_window_tokens=row.integer("sliding_window_tokens"),
        sliding_window_layers=row.integer("sliding_window_layers"),
        moe_num_experts=experts,
        moe_experts_per_token=per_token,
        moe_intermediate_size=row.integer("moe_intermediate_size"),
        moe_shared_experts=row.integer("moe_shared_experts"),
        tied_embeddings=row.boolean("tied_embeddings"),
        native_precision=row.text("native_precision") or "bf16",
        proxy_note=row.text("proxy_note"),
        aliases=row.aliases(),
        notes=row.text("notes"),
        source=row.text("source"),
    )


def _hardware(row: _Row) -> HardwareSpec:
    kind = row.text("kind")
    if kind not in _KINDS:
        raise row.fail("kind", f"must be one of {sorted(_KINDS)}, got {kind!r}")
    memory = row.real("memory_gib", required=True, positive=True)
    usable = row.real("usable_memory_gib")
    if usable > memory:
        raise row.fail("usable_memory_gib", f"{usable} exceeds memory_gib {memory}")
    tera = 1e12
    return HardwareSpec(
        key=row.key,
        name=row.text("name") or row.key,
        vendor=row.text("vendor"),
        kind=kind,  # type: ignore[arg-type]
        memory_bytes=memory * _GIB,
        usable_memory_bytes=usable * _GIB,
        memory_bandwidth_bytes_per_s=row.real("memory_bandwidth_gbps", required=True, positive=True) * 1e9,
        fp32_flops=row.real("fp32_tflops") * tera,
        tf32_dense_flops=row.real("tf32_tflops_dense") * tera,
        fp16_dense_flops=row.real("fp16_tflops_dense") * tera,
        bf16_dense_flops=row.real("bf16_tflops_dense") * tera,
        fp8_dense_flops=row.real("fp8_tflops_dense") * tera,
        fp4_dense_flops=row.real("fp4_tflops_dense") * tera,
        int8_dense_ops=row.real("int8_tops_dense") * tera,
        int4_dense_ops=row.real("int4_tops_dense") * tera,
        tdp_watts=row.real("tdp_watts"),
        interconnect_bytes_per_s=row.real("interconnect_gbps") * 1e9,
        interconnect_latency_s=row.real("interconnect_latency_us") * 1e-6,
        cloud_usd_per_hour=row.real("cloud_usd_per_hour"),
        purchase_usd=row.real("purchase_usd"),
        aliases=row.aliases(),
        notes=row.text("notes"),
        source=row.text("source"),
    )


def load_catalog(models_path: Path | None = None, hardware_path: Path | None = None) -> Catalog:
    """Read both CSVs, validate every row and return a Catalog keyed by catalog key."""
    models_path = Path(models_path) if models_path else MODELS_CSV
    hardware_path = Path(hardware_path) if hardware_path else HARDWARE_CSV
    models = {row.key: _model(row) for row in _read_rows(models_path, _MODEL_COLUMNS)}
    hardware = {row.key: _hardware(row) for row in _read_rows(hardware_path, _HARDWARE_COLUMNS)}
    _check_aliases(models_path, models)
    _check_aliases(hardware_path, hardware)
    return Catalog(models=models, hardware=hardware)


def _check_aliases(path: Path, entries: dict[str, ModelSpec] | dict[str, HardwareSpec]) -> None:
    owner: dict[str, str] = {}
    for key, spec in entries.items():
        for name in (key, *spec.aliases):
            for form in _forms(name):
                other = owner.setdefault(form, key)
                if other != key:
                    raise CatalogError(
                        f"{path.name} (key {key!r}), column 'aliases': {name!r} also matches {other!r}"
                    )


@functools.lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The catalog shipped in calculator/data (loaded once)."""
    return load_catalog()


def normalize_name(name: str) -> str:
    """Lowercase; '_' and whitespace become '-'; repeated '-' collapse; outer '-' trimmed."""
    text = re.sub(r"[\s_]+", "-", str(name).strip().lower())
    return re.sub(r"-{2,}", "-", text).strip("-")


def _forms(name: str) -> tuple[str, str]:
    """The normalised name and the same with every separator ('-', '.', '/') removed."""
    norm = normalize_name(name)
    return norm, re.sub(r"[-./]", "", norm)


def _index(entries: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for key, spec in entries.items():
        for name in (key, *spec.aliases):
            norm, squashed = _forms(name)
            exact.setdefault(norm, key)
            loose.setdefault(squashed, key)
    return exact, loose


_INDEX_CACHE: dict[tuple[int, str], tuple[Catalog, dict[str, str], dict[str, str]]] = {}


def _resolve(name: str, catalog: Catalog | None, kind: str) -> Any:
    catalog = catalog or default_catalog()
    entries = catalog.models if kind == "model" else catalog.hardware
    cached = _INDEX_CACHE.get((id(catalog), kind))
    if cached is None or cached[0] is not catalog:
        if len(_INDEX_CACHE) > 16:
            _INDEX_CACHE.clear()
        cached = (catalog, *_index(entries))
        _INDEX_CACHE[(id(catalog), kind)] = cached
    _, exact, loose = cached
    norm, squashed = _forms(name)
    key = exact.get(norm) or loose.get(squashed)
    if key is not None:
        return entries[key]
    # Every spelling a catalog entry answers to, matched against the name; each entry listed once, by key
    # (five spellings of one A100 are one suggestion, not five).
    spelling = dict(exact)
    spelling.update({alias: spec.key for spec in entries.values() for alias in (spec.key, *spec.aliases)})
    close: list[str] = []
    for cutoff in (0.5, 0.0):
        for match in difflib.get_close_matches(norm, sorted(spelling), n=50, cutoff=cutoff):
            if spelling[match] not in close:
                close.append(spelling[match])
        if close:
            break
    shown = ", ".join(close[:5]) or "none"
    raise UnknownNameError(f"unknown {kind} {name!r}; closest matches: {shown}")


def resolve_model(name: str, catalog: Catalog | None = None) -> ModelSpec:
    """Find a model by key or alias (case-insensitive; '_', spaces, '.', '-' and '/' are forgiving)."""
    return _resolve(name, catalog, "model")


def resolve_hardware(name: str, catalog: Catalog | None = None) -> HardwareSpec:
    """Find a hardware entry by key or alias (same matching rules as resolve_model)."""
    return _resolve(name, catalog, "hardware")
