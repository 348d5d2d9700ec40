"""Predict measured rows and report the error: performance rows (measurements.csv columns) and memory rows
(memory.csv columns). Each row is mapped to a deployment under its scenario; all rows are evaluated as one
vectorised batch, online-rate rows through the queueing model.

Rows come in as dicts of CSV text; reading the files and printing the report are the command line's
(`calculator.cli_validate`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from calculator.calibration import FAMILIES, Calibration, default_calibration
from calculator.catalog import default_catalog, resolve_model
from calculator.columns import HARDWARE_CLASSES, hardware_class
from calculator.deployment import Deployment, InputError, deployments_batch, resolve_deployment
from calculator.engine import ConfigBatch, evaluate
from calculator.frameworks import framework_for_version, resolve_framework
from calculator.progress import ProgressCallback, reported
from calculator.serving import burst_operating_point, disaggregated_operating_point, online_operating_point
from calculator.specs import Catalog

UNBOUNDED_RATE_BURST = 512
"""Requests in a burst whose source gives neither a count nor a concurrency (TensorRT-LLM v0.14's Triton
"QPS=INF" rows). Not published; inferred from the rows' own shape: mean TTFT is the same for 16 and 256
output tokens (every request admitted at once, so the burst fits the batch) and equals N/2 prompts' prefill
at the throughput the 16-token rows reach, giving N = 500-620 on all six configurations."""
UNBOUNDED_RATE = re.compile(r"(?<![a-z])inf(?![a-z])|infinit|at once", re.IGNORECASE)
"""How notes say requests were not paced: "QPS=INF", "request rate inf", "infinite rate", "sent at once"."""
GIB = 2**30
MIB = 2**20
PERFORMANCE_METRICS = {
    "decode_tokens_per_s_per_user",
    "prefill_tokens_per_s",
    "output_tokens_per_s_total",
    "total_tokens_per_s",
    "ttft_ms",
    "tpot_ms",
    "e2e_latency_s",
    "requests_per_s",
    "itl_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "e2e_latency_p90_s",
    "e2e_latency_p99_s",
}
METRIC_ORDER = tuple(sorted(PERFORMANCE_METRICS))
MEDIAN = ("median", "p50")
"""`statistic` values predicted from the median (others: the mean; p90 / p99 metrics name their own)."""
MEMORY_METRICS = {
    "weights_gib",
    "kv_cache_gib",
    "kv_cache_tokens",
    "max_concurrency",
    "activation_peak_gib",
    "non_torch_gib",
    "cuda_graph_gib",
    "llama_cpp_model_buffer_mib",
    "llama_cpp_kv_mib",
    "llama_cpp_compute_buffer_mib",
}


@dataclass(frozen=True, kw_only=True)
class Prediction:
    id: str
    metric: str
    scenario: str
    framework: str
    family: str
    hardware: str
    hardware_class: str
    source: str
    measured: float
    predicted: float
    within_roofline: bool = True

    @property
    def ape(self) -> float:
        return abs(self.predicted - self.measured) / abs(self.measured)

    @property
    def signed(self) -> float:
        return (self.predicted - self.measured) / abs(self.measured)


@dataclass(kw_only=True)
class ValidationReport:
    rows: int
    predictions: list[Prediction] = field(default_factory=list)
    unresolved: list[tuple[str, str]] = field(default_factory=list)

    @property
    def physics_violations(self) -> list[Prediction]:
        return [p for p in self.predictions if not p.within_roofline]

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "predicted": len(self.predictions),
            "metrics": group_errors(self.predictions, lambda p: p.metric),
            "scenarios": group_errors(self.predictions, lambda p: p.scenario),
            "unresolved": [row_id for row_id, _ in self.unresolved],
            "physics_violations": [p.id for p in self.physics_violations],
        }


def error_stats(preds: list[Prediction]) -> dict[str, float | int]:
    ape = np.array([p.ape for p in preds])
    signed = np.array([p.signed for p in preds])
    return {
        "n": len(preds),
        "median_ape": round(float(np.median(ape)), 4),
        "mean_ape": round(float(np.mean(ape)), 4),
        "within_25pct": round(float(np.mean(ape <= 0.25)), 4),
        "median_signed": round(float(np.median(signed)), 4),
    }


def group_errors(preds: Iterable[Prediction], key) -> dict[str, dict[str, float | int]]:  # type: ignore[no-untyped-def]
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for p in preds:
        groups[key(p)].append(p)
    return {k: error_stats(v) for k, v in sorted(groups.items())}


def _num(row: dict[str, str], name: str, default: float = 0.0) -> float:
    value = (row.get(name) or "").strip()
    return float(value) if value else default


def framework_of(row: dict[str, str]) -> str:
    """The row's framework entry for its release (`frameworks.framework_for_version`: vLLM's V0 engine,
    llama.cpp's 2023 builds, TensorRT-LLM before 1.0, SGLang 0.3 and 0.4)."""
    return framework_for_version(resolve_framework(row["framework"]), row.get("framework_version")).key


def _performance_deployment(row: dict[str, str], catalog: Catalog) -> Deployment:
    """The row's deployment. num_gpus beyond tp x pp are data-parallel replicas (throughput counts them all);
    a row with a blank tp takes the layout its scenario would (`choose_layout`)."""
    scenario = row["scenario"]
    if scenario == "online_disagg":
        # The decode engines stand for the row (every GPU counted); the prefill engines are built beside
        # them when the row is predicted (prepare_performance).
        return disaggregated_role(row, catalog, "decode")
    pp = int(_num(row, "pp", 1.0)) or 1
    gpus = int(_num(row, "num_gpus", 0.0))
    if not (row.get("tp") or "").strip() and gpus > pp:
        return choose_layout(row, catalog, gpus, pp)
    # AIConfigurator's convention (serving.csv notes "parallel: tp=1,...,attention_dp=8,moe_ep=8"): attention
    # tensor-parallel over `tp` GPUs in each of `attention_dp` data-parallel groups, experts over all of them.
    dp = attention_data_parallel_of(row)
    tp = (int(_num(row, "tp", 1.0)) or 1) * dp
    gpus = gpus if gpus > tp * pp and gpus % (tp * pp) == 0 else tp * pp
    batch = {
        "single_stream": 1,
        "static_batch": int(_num(row, "batch_size", 1.0)),
        "offline_max_throughput": 0,
        "online_rate": 0,
    }[scenario]
    return _row_deployment(row, catalog, tp=tp, pp=pp, gpus=gpus, batch=batch, dp=dp)


def _row_deployment(
    row: dict[str, str], catalog: Catalog, *, tp: int, pp: int, gpus: int, batch: int, dp: int
) -> Deployment:
    """The deployment a performance row ran, with the layout and batch its scenario gives."""
    precision, kv = _row_precision(row, catalog)
    return resolve_deployment(
        row["model"],
        row["hardware"],
        precision=precision,
        kv_cache_precision=kv,
        framework=framework_of(row),
        tensor_parallel=tp,
        pipeline_parallel=pp,
        num_gpus=gpus,
        prompt_tokens=round(mean_length(row, "input_tokens")),
        output_tokens=round(mean_length(row, "output_tokens")),
        batch_size=batch,
        deployment_mode="local",
        attention_data_parallel=dp,
        catalog=catalog,
    )


PRINTED_TOTALS = re.compile(
    r"(?:total[_ ]input(?:_tokens)?|input)\s+(\d+)\s*/\s*(?:total[_ ]output(?:_tokens)?|generated)\s+(\d+)"
    r"(?:\s+tokens)?\s+over\s+(\d+)\s+(?:completed\s+)?requests",
    re.IGNORECASE,
)
"""A run's printed totals in `lengths` ("total input 215312 / generated 195544 tokens over 1000 requests",
"total_input_tokens 1525074 / total_output_tokens 1544818 over 3000 completed requests")."""
RANGE_RATIO = re.compile(r"random[-_]range[-_]ratio[ =]+(\d*\.?\d+)|(sglang default)", re.IGNORECASE)
"""A stated length that is the upper end of a uniform draw [ratio x L, L] (sglang `bench_serving
--random-range-ratio`, whose default is 0.0: lengths from 1 to L). AIConfigurator's rows, whose ratio is
"most likely 0.8" but not recorded, keep their stated lengths (their prefill costs were fitted on them)."""


def mean_length(row: dict[str, str], column: str) -> float:
    """Mean request length (tokens) of `column` ("input_tokens" or "output_tokens"). The columns hold the
    stated length, which for random-length clients is an upper bound (serving.csv README, "Lengths"): where
    `lengths` prints the run's totals the mean is total / requests; where it states a uniform draw from
    [ratio x L, L] the mean is (1 + ratio) / 2 x L (sglang bench_serving draws randint(max(ratio L, 1), L));
    otherwise the stated length."""
    stated = _num(row, column)
    text = row.get("lengths") or ""
    totals = PRINTED_TOTALS.search(text)
    if totals and int(totals.group(3)) > 0:
        total = int(totals.group(1) if column == "input_tokens" else totals.group(2))
        return total / int(totals.group(3))
    ratio = RANGE_RATIO.search(text)
    if ratio and stated > 0:
        value = ratio.group(1) or "0"
        low = max(min(float(value), 1.0) * stated, 1.0)
        return (low + stated) / 2
    return stated


def _row_precision(row: dict[str, str], catalog: Catalog) -> tuple[str, str | None]:
    """(weight precision, KV-cache precision or None for the default) a performance row ran."""
    # An empty precision is the model's native checkpoint (serving.csv README).
    native = resolve_model(row["model"], catalog).native_precision
    precision = row["precision"] or native or "bf16"
    # A model published only as MXFP4 experts (gpt-oss: the rows name openai/gpt-oss-*; AIC's "nvfp4" is its
    # own quant-mode label) runs that checkpoint when a row says fp4: bf16 attention, MXFP4 experts that
    # Hopper and Ampere dequantise into bf16 GEMMs.
    if precision == "fp4" and native == "mxfp4":
        precision = "mxfp4"
    # NVIDIA's ModelOpt checkpoints, which TensorRT-LLM's published runs use, quantise the KV cache to FP8 in
    # both their FP8 and NVFP4 variants (hf_quant_config.json "kv_cache_quant_algo": "FP8").
    kv = "fp8" if row["framework"] == "tensorrt-llm" and precision in ("fp8", "fp4") else None
    return precision, kv


ATTENTION_DP = re.compile(r"(?:^|[;\s])parallel: [^;]*\battention_dp=(\d+)")


DISAGG_ROLE = re.compile(r"(?:^|[;\s])(prefill|decode): ([^;]*)")


def disaggregated_layout(row: dict[str, str], role: str) -> dict[str, int]:
    """One role's engines in a disaggregated row's notes ("decode: workers=4,gpus_per_worker=8,tp=8,pp=1,
    attention_dp=1,moe_tp=1,moe_ep=8,..."): workers, gpus_per_worker, tp, pp, attention_dp."""
    for name, fields in DISAGG_ROLE.findall(row.get("notes") or ""):
        if name == role:
            values = dict(part.split("=", 1) for part in fields.split(",") if "=" in part)
            try:
                layout = {k: int(values[k]) for k in ("workers", "gpus_per_worker", "tp")}
            except (KeyError, ValueError):
                break
            layout["pp"] = int(values.get("pp") or 1)
            layout["attention_dp"] = int(values.get("attention_dp") or 1)
            return layout
    raise InputError("notes", f"a disaggregated row must state its {role} engines (workers, GPUs, tp)")


def disaggregated_role(row: dict[str, str], catalog: Catalog, role: str) -> Deployment:
    """The deployment of a disaggregated row's prefill or decode engines: `workers` replicas of
    tp x attention_dp x pp GPUs (AIConfigurator's convention, as for aggregated rows)."""
    layout = disaggregated_layout(row, role)
    tp, dp, pp = layout["tp"] * layout["attention_dp"], layout["attention_dp"], layout["pp"]
    if tp * pp != layout["gpus_per_worker"]:
        raise InputError(
            "notes",
            f"{role} engines of tp x attention_dp x pp = {tp * pp} GPUs, not "
            f"gpus_per_worker = {layout['gpus_per_worker']}",
        )
    return _row_deployment(row, catalog, tp=tp, pp=pp, gpus=tp * pp * layout["workers"], batch=0, dp=dp)


def attention_data_parallel_of(row: dict[str, str]) -> int:
    """Attention data-parallel groups a row's notes state for its engine (1 where none is stated)."""
    match = ATTENTION_DP.search(row.get("notes") or "")
    return max(int(match.group(1)), 1) if match else 1


def choose_layout(row: dict[str, str], catalog: Catalog, gpus: int, pp: int) -> Deployment:
    """A row that names its GPUs but not its tensor parallelism runs the layout the scenario would pick: the
    highest-throughput split of the GPUs into replicas (offline and online rows) or the lowest TPOT (single
    stream), among the TP degrees that divide num_gpus / pp and that the model's heads allow."""
    candidates = []
    for tp in range(1, gpus // pp + 1):
        if (gpus // pp) % tp:
            continue
        try:
            candidates.append(_performance_deployment({**row, "tp": str(tp), "pp": str(pp)}, catalog))
        except InputError:
            continue
    if not candidates:
        raise InputError("tp", f"no tensor-parallel degree of {gpus} GPUs runs this model")
    r = evaluate(deployments_batch(candidates))
    runnable = r.blockers == 0
    if row["scenario"] == "single_stream":
        score = np.where(runnable, r.tpot_s, np.inf)
    else:
        score = np.where(runnable, -r.output_tokens_per_s, np.inf)
    return candidates[int(np.argmin(score))]


def _memory_deployment(row: dict[str, str], catalog: Catalog) -> Deployment:
    tp = int(_num(row, "tp", 1.0)) or 1
    model = row["model"]
    precision = row["precision"] or "bf16"
    kv = row.get("kv_cache_precision") or None
    return resolve_deployment(
        model,
        row["hardware"],
        precision=precision,
        kv_cache_precision=kv,
        framework=row["framework"],
        tensor_parallel=tp,
        num_gpus=tp,
        prompt_tokens=1,
        output_tokens=0,
        batch_size=1,
        context_tokens=int(_num(row, "max_model_len", 0.0)),
        gpu_memory_utilization=_num(row, "gpu_memory_utilization", 0.0),
        deployment_mode="local",
        catalog=catalog,
    )


Item = tuple[dict[str, str], Deployment]


def resolve_rows(
    rows: Iterable[dict[str, str]],
    catalog: Catalog | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[list[Item], list[Item], list[tuple[str, str]]]:
    """(performance rows, memory rows, unresolved (row id, why)): each row with a measured value mapped to
    its deployment under its scenario (what `validate`, `refit` and team fits predict); `progress` hears of
    every row mapped (the slow part: predicting them is one vectorised pass)."""
    catalog = catalog or default_catalog()
    perf: list[Item] = []
    mem: list[Item] = []
    unresolved: list[tuple[str, str]] = []
    rows = list(rows)
    for row in reported(rows, len(rows), "rows mapped to deployments", progress):
        metric = row.get("metric", "")
        try:
            value = float(row.get("value") or "nan")
            if not np.isfinite(value) or value == 0:
                raise InputError("value", "missing or zero measured value")
            if metric in PERFORMANCE_METRICS:
                perf.append((row, _performance_deployment(row, catalog)))
            elif metric in MEMORY_METRICS:
                mem.append((row, _memory_deployment(row, catalog)))
            else:
                raise InputError("metric", f"unknown metric {metric!r}")
        except (InputError, KeyError, ValueError) as error:
            unresolved.append((row.get("id", "?"), str(error)))
    return perf, mem, unresolved


def predict_rows(
    rows: list[dict[str, str]],
    *,
    calibration: Calibration | None = None,
    catalog: Catalog | None = None,
    progress: ProgressCallback | None = None,
) -> ValidationReport:
    """Predict each row's metric; rows that cannot be mapped are listed as unresolved with the reason."""
    calibration = calibration or default_calibration()
    report = ValidationReport(rows=len(rows))
    perf, mem, report.unresolved = resolve_rows(rows, catalog, progress)
    if perf:
        report.predictions.extend(_predict_performance(perf, calibration))
    if mem:
        report.predictions.extend(_predict_memory(mem, calibration))
    return report


def _prediction(row: dict[str, str], d: Deployment, predicted: float, ok: bool = True) -> Prediction:
    return Prediction(
        id=row.get("id", "?"),
        metric=row["metric"],
        scenario=row.get("scenario") or "memory",
        framework=d.framework.key,
        family=d.framework.family,
        hardware=d.hardware.key,
        hardware_class=hardware_class(d.hardware.kind),
        source=row.get("source", ""),
        measured=float(row["value"]),
        predicted=float(predicted),
        within_roofline=ok,
    )


@dataclass(frozen=True, kw_only=True)
class PreparedPerformance:
    """Performance rows mapped to deployments, with their batch built once; only efficiencies change per
    fit."""

    rows: list[dict[str, str]]
    deployments: list[Deployment]
    batch: ConfigBatch
    online_index: np.ndarray
    online_batch: ConfigBatch | None
    offline: np.ndarray
    """Rows of an offline max-throughput run: their token gaps are the steady state's (see predict)."""
    family_index: np.ndarray
    class_index: np.ndarray
    metric_codes: np.ndarray
    online_rates: np.ndarray
    online_concurrency: np.ndarray
    online_burst: np.ndarray
    """Requests sent at once (0: not a burst): rows at an unbounded rate ("inf")."""
    online_cv: np.ndarray
    online_prompts: np.ndarray
    """Prompts an open-loop run sent in all (0: not stated): its throughput is counted over a finite run."""
    online_longest: np.ndarray
    """Longest output a request of the row may have (the stated length: an upper bound where lengths vary)."""
    """Output-length coefficient of variation: 1 for sampled datasets (ShareGPT), 0 for fixed lengths."""
    online_median: np.ndarray
    """The row reports a median (`statistic`): TTFT and e2e are predicted as p50s, not means."""
    disagg_index: np.ndarray
    """Rows of disaggregated serving: their deployment is the decode engines'; `disagg_prefill` holds the
    prefill engines' batch, row for row."""
    disagg_prefill: ConfigBatch | None
    disagg_decode: ConfigBatch | None
    disagg_workers: np.ndarray
    """(prefill workers, decode workers) per disaggregated row."""
    disagg_concurrency: np.ndarray

    @property
    def measured(self) -> np.ndarray:
        return np.array([float(r["value"]) for r in self.rows])


def prepare_performance(
    items: list[tuple[dict[str, str], Deployment]], calibration: Calibration
) -> PreparedPerformance:
    deployments = [d for _, d in items]
    rows = [row for row, _ in items]
    batch = deployments_batch(deployments, calibration)
    # Offline runs whose notes count the prompts sent at once are bursts of that many (_burst_size).
    online_index = np.array(
        [i for i, row in enumerate(rows) if row["scenario"] == "online_rate" or offline_burst_size(row) > 0],
        dtype=np.intp,
    )
    online_batch = (
        deployments_batch([deployments[i] for i in online_index], calibration) if len(online_index) else None
    )
    offline = np.array([row["scenario"] == "offline_max_throughput" for row in rows], dtype=bool)
    disagg_index = np.array(
        [i for i, row in enumerate(rows) if row["scenario"] == "online_disagg"], dtype=np.intp
    )
    prefill_engines = []
    workers = []
    for i in disagg_index:
        layout, decode = disaggregated_layout(rows[i], "prefill"), deployments[i]
        tp = layout["tp"] * layout["attention_dp"]
        prefill_engines.append(
            decode.replace(
                tensor_parallel=tp,
                attention_data_parallel=layout["attention_dp"],
                pipeline_parallel=layout["pp"],
                num_gpus=tp * layout["pp"],
            )
        )
        workers.append((layout["workers"], decode.replicas))

    return PreparedPerformance(
        rows=rows,
        deployments=deployments,
        batch=batch,
        online_index=online_index,
        online_batch=online_batch,
        offline=offline,
        family_index=np.array([FAMILIES.index(d.framework.family) for d in deployments], dtype=np.intp),
        class_index=np.array(
            [HARDWARE_CLASSES.index(hardware_class(d.hardware.kind)) for d in deployments], dtype=np.intp
        ),
        metric_codes=np.array([METRIC_ORDER.index(row["metric"]) for row in rows]),
        # "inf" beside a concurrency is a closed loop (serving.csv README): no rate.
        online_rates=np.array([_finite_rate(rows[i]) for i in online_index]),
        online_median=np.array([rows[i].get("statistic", "") in MEDIAN for i in online_index], dtype=bool),
        online_concurrency=np.array([_num(rows[i], "concurrency", 0.0) for i in online_index]),
        online_burst=_burst_sizes([rows[i] for i in online_index]),
        online_cv=np.array([_output_length_cv(rows[i]) for i in online_index]),
        online_prompts=np.array([_prompt_count(rows[i]) for i in online_index]),
        online_longest=np.array([_num(rows[i], "output_tokens") for i in online_index]),
        disagg_index=disagg_index,
        disagg_prefill=deployments_batch(prefill_engines, calibration) if prefill_engines else None,
        disagg_decode=(
            deployments_batch([deployments[i] for i in disagg_index], calibration)
            if prefill_engines
            else None
        ),
        disagg_workers=np.array(workers, dtype=np.float64).reshape(-1, 2),
        disagg_concurrency=np.array([_num(rows[i], "concurrency", 1.0) for i in disagg_index]),
    )


RUN_COLUMNS = (
    "source",
    "model",
    "hardware",
    "precision",
    "framework",
    "tp",
    "pp",
    "input_tokens",
    "output_tokens",
    "concurrency",
    "request_rate",
)
"""Rows that agree on these came from one benchmark run (its throughput, TPOT and TTFT)."""


def _finite_rate(row: dict[str, str]) -> float:
    rate = _num(row, "request_rate", 0.0)
    return rate if np.isfinite(rate) else 0.0


def _burst_sizes(rows: list[dict[str, str]]) -> np.ndarray:
    """Burst size per row; a run's notes often say "sent at once" on one metric's row only (Lambda prints
    it beside throughput, not beside inter-token latency), so a burst marks every row of its run."""
    runs = [tuple(row.get(c, "") for c in RUN_COLUMNS) for row in rows]
    run_size: dict[tuple[str, ...], float] = {}
    for run, row in zip(runs, rows, strict=True):
        run_size[run] = max(run_size.get(run, 0.0), _burst_size(row))
    return np.array([run_size[run] for run in runs])


OFFLINE_BURST = re.compile(r"\b(?:all )?(\d+) prompts (?:all )?at once", re.IGNORECASE)
"""How an offline run's notes count the prompts it sent together ("all 1000 prompts at once", "5000 prompts
all at once": vllm / sglang bench_serving at request rate inf without a concurrency cap)."""


def offline_burst_size(row: dict[str, str]) -> float:
    """Prompts an offline max-throughput row sent at once (0 where its notes do not count them). Such a run
    is a finite burst, not a steady full batch: its throughput is total output over the time until the
    last request ends, its TTFT the admission wait (burst_operating_point)."""
    if row.get("scenario") != "offline_max_throughput":
        return 0.0
    match = OFFLINE_BURST.search(row.get("notes") or "")
    return float(match.group(1)) if match else 0.0


def _burst_size(row: dict[str, str]) -> float:
    """A row at an unbounded rate ("request rate inf", "QPS=INF", "sent at once") is a burst: of its
    concurrency when given, else UNBOUNDED_RATE_BURST. Other online rows are open or closed loops."""
    if offline := offline_burst_size(row):
        return offline
    if _num(row, "request_rate", 0.0) > 0:
        return 0.0
    if not UNBOUNDED_RATE.search(row.get("notes") or ""):
        return 0.0
    return _num(row, "concurrency", 0.0) or float(UNBOUNDED_RATE_BURST)


PROMPT_COUNT = re.compile(r"num[-_ ]prompts[ =]*(\d+)|\b(\d+) prompts\b(?! of)", re.IGNORECASE)
"""How notes count a benchmark's prompts ("--num-prompts 200", "Num Prompts 300", "Poisson request rate 4.0
req/s, 1200 prompts"; not "9 system prompts of 100 tokens")."""


def _prompt_count(row: dict[str, str]) -> float:
    match = PROMPT_COUNT.search(row.get("notes") or "")
    return float(match.group(1) or match.group(2)) if match else 0.0


def finite_run_rate(prompts: np.ndarray, served_per_s: np.ndarray, tail_s: np.ndarray) -> np.ndarray:
    """Requests/s a benchmark client reports for `prompts` requests offered at a rate the replica serves at
    `served_per_s`: completed requests over the run's duration, from the first arrival until the last
    request ends, (prompts - 1) / served + the last request's end-to-end latency `tail_s` (vLLM and sglang
    bench_serving divide by that duration). Where the run is long against one request this is the served
    rate; a short run (200 prompts at 16 req/s, each decoding for tens of seconds) reports much less."""
    duration_s = np.maximum(prompts - 1.0, 0.0) / np.maximum(served_per_s, 1e-12) + tail_s
    return prompts / np.maximum(duration_s, 1e-12)


def _output_length_cv(row: dict[str, str]) -> float:
    text = f"{row.get('lengths', '')} {row.get('notes', '')}".lower()
    return 1.0 if "sharegpt" in text else 0.0


def predict_performance(prep: PreparedPerformance, calibration: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """Predicted value of each row's metric under `calibration`, and whether it respects the roofline."""
    batch = replace(
        prep.batch, efficiency=calibration.efficiency_columns(prep.family_index, prep.class_index)
    )
    r = evaluate(batch)
    w = batch.workload
    io = (w.prompt_tokens + w.output_tokens) / np.maximum(w.output_tokens, 1.0)
    columns = {
        "decode_tokens_per_s_per_user": r.decode_tokens_per_s_per_user.copy(),
        "prefill_tokens_per_s": w.prompt_tokens * r.batch_size / r.ttft_s,
        "output_tokens_per_s_total": r.output_tokens_per_s.copy(),
        "total_tokens_per_s": r.output_tokens_per_s * io,
        "ttft_ms": r.ttft_s * 1e3,
        "tpot_ms": r.tpot_s * 1e3,
        "e2e_latency_s": r.e2e_latency_s.copy(),
        "requests_per_s": r.requests_per_s.copy(),
        # A static batch has no spread: its percentiles are its figures.
        "itl_ms": r.tpot_s * 1e3,
        "ttft_p90_ms": r.ttft_s * 1e3,
        "ttft_p99_ms": r.ttft_s * 1e3,
        "e2e_latency_p90_s": r.e2e_latency_s.copy(),
        "e2e_latency_p99_s": r.e2e_latency_s.copy(),
    }
    # An offline run keeps the batch full: as requests finish, queued prompts are prefilled between (or, with
    # chunked prefill, inside) the decode steps, so the gap a client sees between two tokens averages the
    # whole cycle over its decode steps: (prefill(batch) + (output - 1) x step) / (output - 1).
    steps = np.maximum(w.output_tokens - 1.0, 1.0)
    steady_gap_ms = (r.ttft_s + np.maximum(w.output_tokens - 1.0, 0.0) * r.tpot_s) / steps * 1e3
    for name in ("tpot_ms", "itl_ms"):
        columns[name] = np.where(prep.offline, steady_gap_ms, columns[name])
    if prep.online_batch is not None:
        idx = prep.online_index
        sub = replace(
            prep.online_batch,
            efficiency=calibration.efficiency_columns(prep.family_index[idx], prep.class_index[idx]),
        )
        replicas = np.array([max(prep.deployments[i].replicas, 1) for i in idx], dtype=np.float64)
        rates, conc = prep.online_rates / replicas, prep.online_concurrency / replicas
        cap = r.max_batch_size[idx]
        # Open loop at a stated rate; a burst where the notes say the rate was unbounded (_burst_sizes);
        # otherwise a closed loop at the stated concurrency, or at the largest batch that fits.
        closed = online_operating_point(sub, cap, concurrency=np.maximum(np.where(conc > 0, conc, cap), 1.0))
        opened = online_operating_point(sub, cap, request_rate=np.where(rates > 0, rates, 1.0))
        burst = burst_operating_point(
            sub, cap, requests=np.maximum(prep.online_burst / replicas, 1.0), output_length_cv=prep.online_cv
        )
        is_open, is_burst = rates > 0, prep.online_burst > 0

        def pick(name: str) -> np.ndarray:
            chosen = np.where(is_open, getattr(opened, name), getattr(closed, name))
            return np.where(is_burst, getattr(burst, name), chosen)

        tpot = pick("tpot_s")
        served = pick("requests_per_s")
        # A finite open-loop run (its prompt count stated) ends when its last request does: the last arrival
        # decodes the longest output the row allows (finite_run_rate). Offered above its capacity, a replica
        # takes at least as long as for the same prompts sent at once (burst_operating_point: the queue
        # served at capacity, then the batch drains), and at least the arrivals' span.
        finite = is_open & (prep.online_prompts > 0)
        prompts = np.maximum(prep.online_prompts / replicas, 1.0)
        ttft_s = pick("ttft_mean_s")
        longest_s = ttft_s + np.maximum(prep.online_longest - 1.0, 0.0) * tpot
        finite_rate = finite_run_rate(prompts, served, np.where(np.isfinite(longest_s), longest_s, 0.0))
        saturated = pick("saturated")
        if np.any(finite & saturated):
            sent_at_once = burst_operating_point(sub, cap, requests=prompts, output_length_cv=prep.online_cv)
            span_s = np.maximum(prompts - 1.0, 0.0) / np.maximum(rates, 1e-12)
            burst_s = prompts / np.maximum(sent_at_once.requests_per_s, 1e-12)
            finite_rate = np.where(saturated, prompts / np.maximum(span_s, burst_s), finite_rate)
        served = np.where(finite, np.minimum(finite_rate, served), served)
        output = served * sub.workload.output_tokens * replicas
        median = prep.online_median
        columns["ttft_ms"][idx] = np.where(median, pick("ttft_p50_s"), pick("ttft_mean_s")) * 1e3
        # An offline burst's token gaps stay the steady full batch's (above): past its first wave the
        # engine refills every freed slot from the queue, prefilling between or inside the decode steps.
        steady = prep.offline[idx]
        columns["tpot_ms"][idx] = np.where(steady, columns["tpot_ms"][idx], tpot * 1e3)
        columns["itl_ms"][idx] = np.where(steady, columns["itl_ms"][idx], tpot * 1e3)
        columns["ttft_p90_ms"][idx] = pick("ttft_p90_s") * 1e3
        columns["ttft_p99_ms"][idx] = pick("ttft_p99_s") * 1e3
        columns["e2e_latency_p90_s"][idx] = pick("e2e_p90_s")
        columns["e2e_latency_p99_s"][idx] = pick("e2e_p99_s")
        columns["decode_tokens_per_s_per_user"][idx] = 1.0 / tpot
        columns["output_tokens_per_s_total"][idx] = output
        columns["total_tokens_per_s"][idx] = output * io[idx]
        # The median request's decode: output lengths L = mean x ((1 - cv) + cv x E), E ~ Exp(1) (the
        # burst model's spread: sampled datasets such as ShareGPT), whose median is mean x (1 - cv + cv ln 2).
        median_output = sub.workload.output_tokens * (1.0 - prep.online_cv + prep.online_cv * np.log(2.0))
        steps = np.maximum(median_output - 1.0, 0.0)
        columns["e2e_latency_s"][idx] = np.where(
            median, pick("ttft_p50_s") + steps * tpot, pick("e2e_latency_s")
        )
        columns["requests_per_s"][idx] = served * replicas
    if prep.disagg_prefill is not None and prep.disagg_decode is not None:
        idx = prep.disagg_index
        fi, ci = prep.family_index[idx], prep.class_index[idx]
        efficiency = calibration.efficiency_columns(fi, ci)
        served = disaggregated_operating_point(
            replace(prep.disagg_prefill, efficiency=efficiency),
            replace(prep.disagg_decode, efficiency=efficiency),
            r.max_batch_size[idx],
            prefill_workers=prep.disagg_workers[:, 0],
            decode_workers=prep.disagg_workers[:, 1],
            concurrency=prep.disagg_concurrency,
        )
        columns["ttft_ms"][idx] = served.ttft_mean_s * 1e3
        columns["tpot_ms"][idx] = served.tpot_s * 1e3
        columns["itl_ms"][idx] = served.tpot_s * 1e3
        columns["ttft_p90_ms"][idx] = served.ttft_p90_s * 1e3
        columns["ttft_p99_ms"][idx] = served.ttft_p99_s * 1e3
        columns["e2e_latency_s"][idx] = served.e2e_latency_s
        columns["e2e_latency_p90_s"][idx] = served.e2e_p90_s
        columns["e2e_latency_p99_s"][idx] = served.e2e_p99_s
        columns["decode_tokens_per_s_per_user"][idx] = 1.0 / served.tpot_s
        columns["output_tokens_per_s_total"][idx] = served.output_tokens_per_s
        columns["total_tokens_per_s"][idx] = served.output_tokens_per_s * io[idx]
        columns["requests_per_s"][idx] = served.requests_per_s
    values = np.select(
        [prep.metric_codes == k for k in range(len(METRIC_ORDER))],
        [columns[name] for name in METRIC_ORDER],
        default=np.nan,
    )
    roofline = r.roofline_tokens_per_s_per_user * (1 + 1e-9)
    ok = (r.decode_tokens_per_s_per_user <= roofline) & (
        (prep.metric_codes != METRIC_ORDER.index("decode_tokens_per_s_per_user")) | (values <= roofline)
    )
    return values, ok


def _predict_performance(
    items: list[tuple[dict[str, str], Deployment]], calibration: Calibration
) -> list[Prediction]:
    prep = prepare_performance(items, calibration)
    values, ok = predict_performance(prep, calibration)
    return [_prediction(row, d, values[i], bool(ok[i])) for i, (row, d) in enumerate(items)]


def _predict_memory(
    items: list[tuple[dict[str, str], Deployment]], calibration: Calibration
) -> list[Prediction]:
    deployments = [d for _, d in items]
    r = evaluate(deployments_batch(deployments, calibration))
    out = []
    for i, (row, d) in enumerate(items):
        pool = max(float(r.kv_pool_bytes[i]), 0.0)
        tokens = pool / float(r.kv_bytes_per_token[i])
        context = max(d.context_tokens, 1)
        value = {
            "weights_gib": float(r.weights_bytes[i]) / GIB,
            "kv_cache_gib": pool / GIB,
            "kv_cache_tokens": tokens,
            "max_concurrency": tokens / context,
            "activation_peak_gib": float(r.activation_bytes[i]) / GIB,
            "non_torch_gib": float(r.overhead_bytes[i]) / GIB,
            "cuda_graph_gib": d.framework.cuda_graph_bytes / GIB,
            "llama_cpp_model_buffer_mib": float(r.weights_bytes[i]) / MIB,
            "llama_cpp_kv_mib": float(r.kv_cache_bytes[i]) / MIB,
            "llama_cpp_compute_buffer_mib": float(r.activation_bytes[i]) / MIB,
        }[row["metric"]]
        out.append(_prediction(row, d, value))
    return out


BREAKDOWN_KEYS = {
    "source": lambda p: p.source,
    "era": lambda p: p.family,
    "hardware": lambda p: p.hardware,
    "framework": lambda p: p.framework,
}
"""`validate --by`: what a breakdown groups rows by (an era is a framework family: vllm is V1, vllm-v0 the
engine before 0.8, tensorrt-llm 1.x, tensorrt-llm-v0 the TensorRT engines, sglang 0.5 and later,
sglang-v0.4 and sglang-v0.3 the series before)."""
BREAKDOWN_METRICS = (
    "tpot_ms",
    "itl_ms",
    "ttft_ms",
    "ttft_p99_ms",
    "e2e_latency_s",
    "e2e_latency_p99_s",
    "output_tokens_per_s_total",
    "decode_tokens_per_s_per_user",
    "prefill_tokens_per_s",
)


def breakdown(report: ValidationReport, by: str) -> dict[str, dict[str, dict[str, float | int]]]:
    """{group: {metric: error stats}} for the performance metrics of BREAKDOWN_METRICS, grouped by `by`."""
    key = BREAKDOWN_KEYS[by]
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for p in report.predictions:
        if p.metric in BREAKDOWN_METRICS:
            groups[key(p)].append(p)
    return {
        name: group_errors(preds, lambda p: p.metric)
        for name, preds in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    }
