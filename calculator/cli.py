"""Command line: `python -m calculator estimate|export|compare|models|hardware|validate|calibrate|benchmark`.

With no arguments it asks for the inputs interactively, as the seed's command line did.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from rich.console import Console
from rich.table import Table

from calculator.calibration import Calibration, load_calibration
from calculator.catalog import default_catalog
from calculator.cli_breakeven import add_parser as breakeven_parser
from calculator.cli_breakeven import cmd_breakeven
from calculator.cli_progress import progress_bars
from calculator.cli_tables import print_table
from calculator.deployment import Deployment, InputError, resolve_deployment
from calculator.estimate import Estimate
from calculator.planning import OBJECTIVE_TABLE, ResultRow, resolve_spec, run_comparison
from calculator.planning.advice import estimate, estimate_with_advice
from calculator.planning.capacity import CapacityPlan, plan_capacity, resolve_capacity_request
from calculator.planning.sizing import DEFAULT_MAX_UTILIZATION, SizingEstimate, size_deployment
from calculator.planning.slo import SLO, SLO_TERMS, resolve_slo, resolve_traffic

GIB = 2**30


def _add_deployment_args(p: argparse.ArgumentParser, *, lists: bool = False) -> None:
    kind = str
    suffix = " (comma-separated list)" if lists else ""
    p.add_argument(
        "--model", "-m", type=kind, default="llama-3.1-8b", help="catalog model key or alias" + suffix
    )
    p.add_argument(
        "--hardware", "-H", type=kind, default="h100-sxm-80gb", help="catalog hardware key" + suffix
    )
    p.add_argument("--precision", "-p", type=kind, default="fp16", help="weight precision" + suffix)
    p.add_argument("--framework", "-f", type=kind, default="vllm", help="serving framework" + suffix)
    p.add_argument(
        "--tensor-parallel", "--tp", type=kind, default="1", help="tensor parallel degree" + suffix
    )
    p.add_argument(
        "--batch-size", "-b", type=kind, default="1", help="concurrent sequences; 0 = max that fits" + suffix
    )
    p.add_argument("--kv-cache-precision", default=None, help="KV cache precision (default: 16-bit)")
    p.add_argument("--pipeline-parallel", "--pp", type=int, default=1)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--output-tokens", type=int, default=256)
    p.add_argument("--deployment-mode", choices=("local", "cloud", "edge"), default="cloud")
    p.add_argument("--requests-per-hour", type=float, default=0.0)
    p.add_argument("--calibration", default=None, help="calibration JSON to use instead of the shipped one")


def _fmt_band(band: float | None) -> str:
    return f"±{band:.0%}" if band is not None else "roofline"


def render_estimate(est: Estimate, console: Console) -> None:
    i, m, p, c = est.inputs, est.memory, est.performance, est.cost
    console.print(
        f"[bold]{i['model_name']}[/] on {i['num_gpus']}x {i['hardware_name']} · {i['precision']} · "
        f"{i['framework']} · TP={i['tensor_parallel']} · prompt {i['prompt_tokens']} / output "
        f"{i['output_tokens']} · batch {p.batch_size}"
        + (f" · {i['framework_era']}" if i.get("framework_era") else "")
    )
    mem = Table(title=f"Memory per device: {m.status.replace('_', ' ')}")
    for col in ("weights", "KV cache", "activations", "overhead", "total", "usable", "utilisation"):
        mem.add_column(col, justify="right")
    mem.add_row(
        *(
            f"{v / GIB:.2f} GiB"
            for v in (
                m.weights_bytes,
                m.kv_cache_bytes,
                m.activation_bytes,
                m.overhead_bytes,
                m.total_bytes,
                m.capacity_bytes,
            )
        ),
        f"{m.utilization:.0%}",
    )
    print_table(console, mem)
    b = est.error_bands
    perf = Table(title="Performance (error band: cross-validated median error)")
    for col in ("metric", "value", "band"):
        perf.add_column(col, justify="right" if col != "metric" else "left")
    perf.add_row("TTFT", f"{p.ttft_s * 1e3:.1f} ms", _fmt_band(b.get("ttft_ms")))
    perf.add_row("TPOT", f"{p.tpot_s * 1e3:.2f} ms", _fmt_band(b.get("tpot_ms")))
    perf.add_row(
        "decode tokens/s per user",
        f"{p.decode_tokens_per_s_per_user:.1f}",
        _fmt_band(b.get("decode_tokens_per_s_per_user")),
    )
    perf.add_row("roofline tokens/s per user", f"{p.roofline_decode_tokens_per_s_per_user:.1f}", "limit")
    perf.add_row(
        "prefill tokens/s", f"{p.prefill_tokens_per_s:.0f}", _fmt_band(b.get("prefill_tokens_per_s"))
    )
    perf.add_row(
        "output tokens/s (this batch)",
        f"{p.output_tokens_per_s:.0f}",
        _fmt_band(b.get("output_tokens_per_s_total")),
    )
    perf.add_row(
        f"max throughput (batch {est.max_throughput.batch_size})",
        f"{est.max_throughput.output_tokens_per_s:.0f} tok/s",
        _fmt_band(b.get("output_tokens_per_s_total")),
    )
    perf.add_row("end-to-end latency", f"{p.e2e_latency_s:.2f} s", "")
    print_table(console, perf)
    if est.online:
        o = est.online
        # A saturated burst only queues for a while; a saturated rate grows its queue without bound.
        warning = {"burst": " [yellow](more requests than fit at once: the rest wait for a slot)[/]"}.get(
            o.mode, " [red](saturated)[/]"
        )
        console.print(
            f"Online ({o.mode}, {o.concurrency:.0f} in flight) at {o.request_rate_per_s:.2f} req/s, "
            f"{o.output_tokens_per_s:.0f} output tok/s: TTFT p50 {_ms(_scaled(o.ttft_p50_s))}, "
            f"p99 {_ms(_scaled(o.ttft_p99_s))}, TPOT {o.tpot_s * 1e3:.1f} ms"
            + (warning if o.saturated else "")
        )
    if c.blocked or c.price_missing:
        console.print(f"Cost: {c.price_source}")
    else:
        render_cost(est, console)
    console.print(
        f"Score: {est.performance_score:.0f}/100"
        + ("" if est.calibrated else " (uncalibrated: roofline priors)")
    )
    specific = sorted({src for src in est.parameter_sources.values() if src not in ("*/*", "prior")})
    console.print(
        "Calibration: "
        + (
            ", ".join(specific)
            if specific
            else "global fit only (no measurements of this framework on this hardware class)"
        )
    )
    for f in est.blockers:
        console.print(f"[red]blocker[/] {f.code}: {f.message}")
    for f in est.warnings:
        console.print(f"[yellow]warning[/] {f.code}: {f.message}")
    for r in est.recommendations:
        console.print(f"[green]→[/] {r.text}")


def _usd_figure(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if abs(value) < 0.01:
        return f"${value:.5f}"
    return f"${value:,.4g}" if abs(value) < 100 else f"${value:,.0f}"


def render_cost(est: Estimate, console: Console) -> None:
    """The cost at the estimate's batch: what the GPUs cost, per request, and per token both ways (all device
    time over the output tokens, and each phase's device time over its own tokens, cost.token_costs)."""
    c, p = est.cost, est.performance
    steps = max(est.inputs["output_tokens"] - 1, 0)
    console.print(
        f"Cost ({c.price_source}): ${c.hourly_usd:.2f}/h for {c.gpus} GPU(s) ({c.replicas} replica(s)), "
        f"${c.monthly_usd:,.0f}/month"
    )
    console.print(
        f"Device time per batch of {p.batch_size}: prefill {c.prefill_device_s * 1e3:,.1f} ms + {steps} "
        f"decode steps x {p.tpot_s * 1e3:.2f} ms = {(c.prefill_device_s + c.decode_device_s):,.3f} s "
        f"(prefill share {c.prefill_share:.2%})"
    )
    table = Table(title="Cost at this batch")
    table.add_column("per", justify="left")
    table.add_column("USD", justify="right")
    table.add_row("request", _usd_figure(c.cost_per_request_usd))
    table.add_row("1M output tokens (all device time)", _usd_figure(c.cost_per_million_tokens_usd))
    table.add_row("1M input tokens (prefill share)", _usd_figure(c.prefill_cost_per_million_input_tokens_usd))
    table.add_row("1M output tokens (decode share)", _usd_figure(c.decode_cost_per_million_output_tokens_usd))
    table.add_row("1M tokens, blended (prompt + output)", _usd_figure(c.blended_cost_per_million_tokens_usd))
    print_table(console, table)


def _split(value: str) -> list[str]:
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _add_slo_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("service-level objective (each optional)")
    for term in SLO_TERMS:
        g.add_argument(
            f"--{term.name.replace('_', '-')}",
            type=float,
            default=None,
            help=f"{term.label} bound ({term.unit})",
        )
    p.add_argument(
        "--peak-to-mean", type=float, default=None, help="peak rate / mean rate the plan is sized for"
    )
    p.add_argument("--peak-requests-per-s", type=float, default=None, help="peak rate the plan is sized for")
    p.add_argument(
        "--max-utilization",
        type=float,
        default=DEFAULT_MAX_UTILIZATION,
        help="no replica is planned above this share of its saturation rate (default 0.9)",
    )


def _slo(args: argparse.Namespace) -> SLO:
    return resolve_slo(
        {t.name: getattr(args, t.name) for t in SLO_TERMS if getattr(args, t.name) is not None}
    )


def _deployment(args: argparse.Namespace, **inputs: Any) -> Deployment:
    """The deployment the shared arguments (`_add_deployment_args`) describe, with a command's own inputs."""
    return resolve_deployment(
        args.model,
        args.hardware,
        precision=args.precision,
        framework=args.framework,
        tensor_parallel=int(args.tensor_parallel),
        pipeline_parallel=args.pipeline_parallel,
        batch_size=int(args.batch_size),
        kv_cache_precision=args.kv_cache_precision,
        prompt_tokens=args.prompt_tokens,
        output_tokens=args.output_tokens,
        deployment_mode=args.deployment_mode,
        requests_per_hour=args.requests_per_hour,
        **inputs,
    )


def _sizing(
    args: argparse.Namespace,
    deployment: Deployment,
    calibration: Calibration | None,
    rate: float | None,
    *,
    rate_field: str,
) -> SizingEstimate | None:
    """The sizing of `deployment` for the traffic and SLO the arguments give (None without a traffic)."""
    slo = _slo(args)
    traffic = resolve_traffic(
        requests_per_s=rate,
        requests_per_hour=args.requests_per_hour or None,
        peak_to_mean=args.peak_to_mean,
        peak_requests_per_s=args.peak_requests_per_s,
    )
    if traffic is None:
        if not slo.empty:
            flag = "--" + rate_field.replace("_", "-")
            raise InputError(rate_field, f"an SLO sizes a traffic: give {flag} or --requests-per-hour")
        return None
    return size_deployment(
        deployment, slo, traffic, calibration=calibration, max_utilization=args.max_utilization
    )


def cmd_estimate(args: argparse.Namespace, console: Console) -> int:
    calibration = load_calibration(args.calibration) if args.calibration else None
    deployment = _deployment(
        args,
        framework_version=args.framework_version,
        attention_data_parallel=args.attention_dp,
        num_gpus=args.num_gpus,
        request_rate=args.request_rate,
        concurrency=args.concurrency,
        burst_requests=args.burst,
        output_length_cv=args.output_length_cv,
    )
    est = estimate_with_advice(deployment, calibration=calibration)
    sizing = _sizing(args, deployment, calibration, args.request_rate, rate_field="request_rate")
    if args.json:
        data = est.to_dict()
        if sizing is not None:
            data["sizing"] = asdict(sizing)
        print(json.dumps(data, indent=2, default=_json_default))
    else:
        render_estimate(est, console)
        if sizing is not None:
            render_sizing(sizing, console)
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    """The launch command, Kubernetes manifest or docker-compose service of one configuration, sized to the
    traffic within the SLO when a rate is given (calculator.planning.export)."""
    from calculator.planning.export import export_deployment

    calibration = load_calibration(args.calibration) if args.calibration else None
    deployment = _deployment(
        args,
        replicas=args.replicas,
        context_tokens=args.context_tokens,
        gpu_memory_utilization=args.gpu_memory_utilization,
    )
    est = estimate_with_advice(deployment, calibration=calibration)
    sizing = _sizing(args, deployment, calibration, args.requests_per_s, rate_field="requests_per_s")
    export = export_deployment(deployment, est, sizing)
    if args.format == "json":
        print(json.dumps(export.to_dict(), indent=2))
    else:
        text = {"command": export.command, "k8s": export.kubernetes, "compose": export.compose}[args.format]
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        for note in export.notes:
            print(f"# note: {note}", file=sys.stderr)
    return 0


def _json_default(value: Any) -> Any:
    return None if isinstance(value, float) else str(value)


def _usd_text(value: float | None, missing: bool = False) -> str:
    if missing:
        return "no price in the catalog"
    if value is None or not math.isfinite(value):
        return "-"
    return f"${value:,.2f}" if value >= 0.995 else f"${value:.3g}"


def _scaled(seconds: float | None, factor: float = 1e3) -> float | None:
    return None if seconds is None else seconds * factor


def _ms(value: float | None) -> str:
    return "unbounded" if value is None or not math.isfinite(value) else f"{value:,.0f} ms"


def render_sizing(s: SizingEstimate, console: Console) -> None:
    slo = ", ".join(f"{k} {v:g}" for k, v in s.slo.items()) or "none (utilisation cap only)"
    peak = s.traffic["peak_requests_per_s"] or 0.0
    console.print(
        f"[bold]Sizing[/] for {s.traffic['requests_per_s']:.3g} req/s (peak {peak:.3g}) within SLO: {slo}"
    )
    if not s.feasible:
        console.print(f"[red]cannot be sized[/]: {s.reason}")
        return
    console.print(
        f"One replica ({s.gpus_per_replica} GPU) saturates at {s.capacity_rps_per_replica:.3g} req/s and "
        f"meets the SLO up to {s.goodput_rps_per_replica:.3g} req/s: {s.binding_message}."
    )
    console.print(
        f"[bold]{s.replicas} replica(s), {s.gpus} GPU(s)[/]; "
        f"each at {s.requests_per_s_per_replica:.3g} req/s, "
        f"{s.batch:.0f} in flight, TTFT p50 {_ms(s.ttft_p50_ms)} / p99 {_ms(s.ttft_p99_ms)}, "
        f"TPOT {s.tpot_p50_ms:.1f} ms (p99 {s.tpot_p99_ms:.1f}), utilisation {s.utilization:.0%}, "
        f"headroom {s.headroom:+.0%}"
    )
    console.print(
        f"Cost: {_usd_text(s.hourly_usd, s.price_missing)}/h, "
        f"{_usd_text(s.monthly_usd, s.price_missing)}/month, "
        f"{_usd_text(s.cost_per_request_usd, s.price_missing)}/request, "
        f"{_usd_text(s.cost_per_million_output_tokens_usd, s.price_missing)} per 1M output tokens"
    )
    if not s.price_missing and s.prefill_share is not None:
        console.print(
            f"Per 1M tokens split by device time (prefill share {s.prefill_share:.1%}): "
            f"{_usd_text(s.prefill_cost_per_million_input_tokens_usd, False)} input, "
            f"{_usd_text(s.decode_cost_per_million_output_tokens_usd, False)} output, "
            f"{_usd_text(s.blended_cost_per_million_tokens_usd, False)} blended"
        )


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    calibration = load_calibration(args.calibration) if args.calibration else None
    raw: dict[str, Any] = {
        "models": _split(args.model),
        "hardware": _split(args.hardware),
        "precisions": _split(args.precision),
        "frameworks": _split(args.framework),
        "tensor_parallel": [int(v) for v in _split(args.tensor_parallel)],
        "pipeline_parallel": [int(v) for v in _split(args.pipeline_parallel)],
        "prompt_tokens": args.prompt_tokens,
        "output_tokens": args.output_tokens,
        "requests_per_s": args.requests_per_s,
        "requests_per_hour": args.requests_per_hour,
        "peak_to_mean": args.peak_to_mean,
        "peak_requests_per_s": args.peak_requests_per_s,
        "slo": _slo(args).to_dict(),
        "deployment_mode": args.deployment_mode,
        "max_gpus_per_replica": args.max_gpus_per_replica,
        "max_total_gpus": args.max_total_gpus,
        "max_monthly_usd": args.max_monthly_usd,
        "max_utilization": args.max_utilization,
        "objective": args.objective,
        "top_k": args.top,
    }
    plan = plan_capacity(resolve_capacity_request(raw), calibration=calibration)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        render_plan(plan, console)
    return 0


def render_plan(plan: CapacityPlan, console: Console) -> None:
    r = plan.request
    if r.traffic is not None:
        what = f"{r.traffic.requests_per_s:.3g} req/s (peak {r.traffic.peak_rps:.3g})"
    else:
        what = f"a budget of {r.max_total_gpus} GPUs"
    slo = ", ".join(f"{k} {v:g}" for k, v in r.slo.to_dict().items()) or "none (utilisation cap only)"
    table = Table(
        title=f"{', '.join(r.models)}: {what}, {r.prompt_tokens} in / {r.output_tokens} out, SLO {slo}"
    )
    for col in ("#", "hardware", "precision", "framework", "layout", "GPUs", "$/month", "tok/s", "tok/s/GPU",
                "TTFT p99", "TPOT", "util", "binds"):  # fmt: skip
        table.add_column(
            col, justify="left" if col in ("hardware", "precision", "framework", "binds") else "right"
        )
    for o in plan.options:
        layout = f"{o.replicas} x TP{o.tensor_parallel}" + (
            f"xPP{o.pipeline_parallel}" if o.pipeline_parallel > 1 else ""
        )
        table.add_row(
            str(o.rank),
            o.hardware,
            o.precision,
            o.framework,
            layout,
            str(o.gpus),
            _usd_text(o.monthly_usd, o.price_missing).replace("no price in the catalog", "no price"),
            f"{o.output_tokens_per_s:,.0f}",
            f"{o.output_tokens_per_s_per_gpu:,.0f}",
            _ms(o.ttft_p99_ms),
            f"{o.tpot_p50_ms:.1f} ms",
            f"{o.utilization:.0%}",
            o.binding_constraint,
        )
    print_table(console, table)
    if plan.options:
        console.print(f"1: {plan.options[0].binding_message}")
    for note in plan.notes:
        console.print(note)


COMPARE_COLUMNS = (
    "rank",
    "model",
    "hardware",
    "precision",
    "framework",
    "tp",
    "batch",
    "fits",
    "ttft_ms",
    "tpot_ms",
    "tokens_per_s_per_user",
    "output_tokens_per_s",
    "usd_per_million_tokens",
    "usd_per_million_input_tokens",
    "usd_per_million_output_tokens_decode",
    "usd_per_million_tokens_blended",
    "monthly_usd",
    "memory_utilization",
    "blockers",
)


def _rounded(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


def _compare_row(row: ResultRow) -> dict[str, Any]:
    """One ranked row; usd_per_million_tokens is all device time over the output tokens (what "cost" ranks
    by), the input / decode / blended columns the same cost split by phase (cost.token_costs)."""
    return {
        "model": row.model,
        "hardware": row.hardware,
        "precision": row.precision,
        "framework": row.framework,
        "tp": row.tensor_parallel,
        "batch": row.batch_size,
        "fits": True,
        "ttft_ms": round(row.ttft_ms, 2),
        "tpot_ms": round(row.tpot_ms, 3),
        "tokens_per_s_per_user": round(1e3 / row.tpot_ms, 2),
        "output_tokens_per_s": round(row.output_tokens_per_s, 1),
        "usd_per_million_tokens": round(row.cost_per_million_tokens_usd, 4),
        "usd_per_million_input_tokens": _rounded(row.prefill_cost_per_million_input_tokens_usd),
        "usd_per_million_output_tokens_decode": _rounded(row.decode_cost_per_million_output_tokens_usd),
        "usd_per_million_tokens_blended": _rounded(row.blended_cost_per_million_tokens_usd),
        "monthly_usd": round(row.monthly_cost_usd, 2),
        "memory_utilization": round(row.memory_utilization, 4),
        "blockers": "",
    }


LARGE_GRID = 1_000_000
"""Configurations from which `compare` shows its progress (a million take about a second on one core)."""


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    """Rank the grid of the given lists with the vectorised comparison engine (`run_comparison`): every
    feasible configuration row by row, best first; the infeasible ones as one row per reason with their
    count (and, under an objective that needs a price, one row counting the unpriced ones)."""
    if args.kv_cache_precision is not None:
        raise InputError("kv_cache_precision", "compare runs the default KV cache precision only")
    calibration = load_calibration(args.calibration) if args.calibration else None
    raw = {
        "models": _split(args.model),
        "hardware": _split(args.hardware),
        "precisions": _split(args.precision),
        "frameworks": _split(args.framework),
        "tensor_parallel": [int(tp) for tp in _split(args.tensor_parallel)],
        "batch_sizes": [int(batch) for batch in _split(args.batch_size)],
        "deployment_modes": [args.deployment_mode],
        "prompt_tokens": args.prompt_tokens,
        "output_tokens": args.output_tokens,
        "requests_per_hour": args.requests_per_hour,
        "objective": args.objective,
    }
    spec = resolve_spec(raw)
    spec = replace(spec, top_k=spec.size)  # every feasible configuration, row by row
    with progress_bars(enabled=spec.size >= LARGE_GRID) as progress:
        result = run_comparison(spec, calibration=calibration, progress=progress)
    rows = [{**_compare_row(row), "rank": row.rank} for row in result.top]
    counts = [(reason, n) for reason, n in result.infeasible.items() if n]
    # Without a price a configuration is not ranked by cost (nor by the balanced index): count it instead.
    if result.unpriced and OBJECTIVE_TABLE[spec.objective].field in (None, "cost_per_million_tokens_usd"):
        counts.insert(0, ("unpriced", result.unpriced))
    for reason, count in counts:
        rows.append(
            {"fits": reason == "unpriced", "blockers": f"{reason} ({count:,} configurations)", "count": count}
        )
    for rank, row in enumerate(rows, 1):
        row.setdefault("rank", rank)
    rows = rows[: args.top] if args.top else rows
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=COMPARE_COLUMNS)
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in COMPARE_COLUMNS} for r in rows)
    else:
        table = Table(title=f"{result.evaluated:,} configurations ranked by {args.objective}")
        for col in COMPARE_COLUMNS:
            table.add_column(col)
        for r in rows:
            table.add_row(*(str(r.get(k, "")) for k in COMPARE_COLUMNS))
        print_table(console, table)
    return 0


def _listing(
    args: argparse.Namespace,
    console: Console,
    title: str,
    columns: Sequence[str],
    records: list[tuple[dict[str, Any], Sequence[str]]],
) -> int:
    """Print catalog entries as JSON (`--json`) or as a table; each record is (json object, table cells)."""
    if args.json:
        print(json.dumps([obj for obj, _ in records], indent=2))
        return 0
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for _, cells in records:
        table.add_row(*cells)
    print_table(console, table)
    return 0


def cmd_models(args: argparse.Namespace, console: Console) -> int:
    models = sorted(default_catalog().models.values(), key=lambda m: m.key)
    records = [
        (
            {
                "key": m.key,
                "name": m.name,
                "params_total": m.params_total,
                "params_active": m.params_active,
                "attention": m.attention,
                "max_context_tokens": m.max_context_tokens,
            },
            (
                m.key,
                m.name,
                f"{m.params_total / 1e9:.2f}",
                f"{m.params_active / 1e9:.2f}",
                str(m.num_layers),
                m.attention,
                str(m.num_kv_heads),
                str(m.max_context_tokens),
            ),
        )
        for m in models
    ]
    columns = ("key", "name", "params (B)", "active (B)", "layers", "attention", "KV heads", "context")
    return _listing(args, console, f"{len(models)} models", columns, records)


def cmd_hardware(args: argparse.Namespace, console: Console) -> int:
    hardware = sorted(default_catalog().hardware.values(), key=lambda h: h.key)
    records = [
        (
            {
                "key": h.key,
                "name": h.name,
                "kind": h.kind,
                "memory_bytes": h.memory_bytes,
                "memory_bandwidth_bytes_per_s": h.memory_bandwidth_bytes_per_s,
                "fp16_dense_flops": h.fp16_dense_flops,
                "cloud_usd_per_hour": h.cloud_usd_per_hour,
            },
            (
                h.key,
                h.name,
                h.kind,
                f"{h.memory_bytes / GIB:.0f}",
                f"{h.memory_bandwidth_bytes_per_s / 1e9:.0f}",
                f"{h.fp16_dense_flops / 1e12:.0f}",
                f"{h.fp8_dense_flops / 1e12:.0f}",
                f"{h.cloud_usd_per_hour:.2f}" if h.cloud_usd_per_hour else "",
            ),
        )
        for h in hardware
    ]
    columns = ("key", "name", "kind", "memory GiB", "bandwidth GB/s", "fp16 TFLOPS", "fp8 TFLOPS", "$/h")
    return _listing(args, console, f"{len(hardware)} hardware entries", columns, records)


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from calculator.cli_validate import render_breakdown, render_report, validate_file
    from calculator.validate import breakdown

    calibration = load_calibration(args.calibration) if args.calibration else None
    report = validate_file(args.files, calibration=calibration)
    if args.json:
        summary = report.summary()
        if args.by:
            summary["by"] = {args.by: breakdown(report, args.by)}
        print(json.dumps(summary, indent=2))
    else:
        render_report(report, console)
        if args.by:
            render_breakdown(report, args.by, console)
    return 0


def cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    from calculator.cli_validate import run_calibration

    run_calibration(args.files, out=args.out, console=console, cross_validate_folds=not args.no_cv)
    return 0


def cmd_refit(args: argparse.Namespace, console: Console) -> int:
    from calculator.refit import refit_family

    with progress_bars() as progress:
        report = refit_family(
            args.files, args.family, calibration_path=args.calibration, out=args.out, progress=progress
        )
    table = Table(title=f"{args.family} refitted on {report['rows']:,} rows: median absolute error")
    for col in ("metric", "in-sample", "source held out", "hardware held out"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for metric, value in report["in_sample"].items():
        table.add_row(
            metric,
            f"{value:.1%}",
            f"{report['leave_one_source_out'].get(metric, float('nan')):.1%}",
            f"{report['leave_one_hardware_out'].get(metric, float('nan')):.1%}",
        )
    print_table(console, table)
    console.print(f"entries: {json.dumps(report['entries'])}")
    return 0


def cmd_benchmark(args: argparse.Namespace, console: Console) -> int:
    from calculator.benchmark import run_benchmark, run_planning_benchmark, run_team_fit_benchmark

    if args.team_fit:
        run_team_fit_benchmark(args.team_fit, rows=args.rows, console=console)
    elif args.planning:
        run_planning_benchmark(repeats=args.repeats, console=console)
    else:
        run_benchmark(configurations=args.configurations, repeats=args.repeats, console=console)
    return 0


def _interactive(console: Console) -> int:
    console.print("[bold]LLM inference calculator[/] — press Enter to accept the default in brackets.")

    def ask(prompt: str, default: str) -> str:
        answer = input(f"{prompt} [{default}]: ").strip()
        return answer or default

    while True:
        try:
            est = estimate(
                ask("Model", "7B"),
                ask("Hardware", "RTX4090"),
                precision=ask("Precision", "fp16"),
                framework=ask("Framework", "vllm"),
                prompt_tokens=int(ask("Prompt tokens", "128")),
                output_tokens=int(ask("Output tokens", "1024")),
                batch_size=int(ask("Batch size", "1")),
                num_gpus=int(ask("GPUs", "1")),
                deployment_mode=ask("Deployment mode (local/cloud/edge)", "local"),
                requests_per_hour=float(ask("Requests per hour", "100")),
            )
        except (InputError, ValueError) as error:
            console.print(f"[red]{error}[/]")
            continue
        except EOFError:
            return 0
        render_estimate(est, console)
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m calculator", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("estimate", help="estimate one deployment")
    _add_deployment_args(p)
    online = p.add_mutually_exclusive_group()
    online.add_argument(
        "--request-rate", type=float, default=None, help="online: requests/s arriving (open loop)"
    )
    online.add_argument("--concurrency", type=int, default=None, help="online: requests kept in flight")
    online.add_argument("--burst", type=int, default=None, help="online: this many requests sent at once")
    p.add_argument(
        "--output-length-cv",
        type=float,
        default=0.0,
        help="spread of output lengths for --burst: 0 fixed (default), 1 exponential (about ShareGPT's)",
    )
    p.add_argument("--num-gpus", type=int, default=None, help="every GPU: TP x PP x replicas")
    p.add_argument(
        "--framework-version", default=None, help="framework release, e.g. 0.5.4 (picks its engine era)"
    )
    p.add_argument(
        "--attention-dp",
        type=int,
        default=1,
        help="attention data-parallel groups among the TP GPUs (SGLang --enable-dp-attention, TensorRT-LLM "
        "enable_attention_dp); routed experts stay sharded over all of them",
    )
    _add_slo_args(p)
    p.add_argument("--json", action="store_true", help="print the full estimate as JSON")
    p = sub.add_parser(
        "export",
        help="the launch command, Kubernetes manifest or docker-compose service of one configuration",
    )
    _add_deployment_args(p)
    p.add_argument(
        "--replicas", type=int, default=None, help="replicas without a traffic to size (default 1)"
    )
    p.add_argument("--context-tokens", type=int, default=0, help="context to serve (default: the estimate's)")
    p.add_argument("--gpu-memory-utilization", type=float, default=0.0, help="default: the framework's")
    p.add_argument(
        "--requests-per-s", "--request-rate", type=float, default=None, help="mean traffic to size"
    )
    _add_slo_args(p)
    p.add_argument("--format", choices=("command", "k8s", "compose", "json"), default="command")
    p = sub.add_parser(
        "plan",
        help="capacity plan: size every configuration of the catalog to a traffic within an SLO, ranked",
    )
    p.add_argument("--model", "-m", required=True, help="catalog model key(s), comma-separated")
    p.add_argument("--hardware", "-H", default="*", help="hardware keys, comma-separated (default: all)")
    p.add_argument("--precision", "-p", default="*", help="precisions, comma-separated (default: all)")
    p.add_argument("--framework", "-f", default="*", help="frameworks, comma-separated (default: all)")
    p.add_argument("--tensor-parallel", "--tp", default="1,2,4,8")
    p.add_argument("--pipeline-parallel", "--pp", default="1")
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--output-tokens", type=int, default=256)
    p.add_argument("--requests-per-s", "--request-rate", type=float, default=None, help="mean traffic")
    p.add_argument("--requests-per-hour", type=float, default=None)
    p.add_argument("--max-gpus-per-replica", type=int, default=None)
    p.add_argument(
        "--gpus", "--max-total-gpus", dest="max_total_gpus", type=int, default=None, help="GPU budget"
    )
    p.add_argument("--max-monthly-usd", type=float, default=None)
    p.add_argument("--deployment-mode", choices=("local", "cloud", "edge"), default="cloud")
    p.add_argument("--objective", choices=("cost", "gpus", "throughput_per_gpu", "throughput"), default=None)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--calibration", default=None)
    _add_slo_args(p)
    p.add_argument("--json", action="store_true")
    breakeven_parser(sub, _add_slo_args)
    p = sub.add_parser("compare", help="rank every combination of the given lists")
    _add_deployment_args(p, lists=True)
    p.add_argument("--objective", choices=("cost", "latency", "throughput"), default="cost")
    p.add_argument("--top", type=int, default=0, help="show only the best N")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    for name in ("models", "hardware"):
        p = sub.add_parser(name, help=f"list the {name} catalog")
        p.add_argument("--json", action="store_true")
    p = sub.add_parser(
        "validate", help="predict every row of a measurements or memory CSV and report the error"
    )
    p.add_argument("files", nargs="+", metavar="file", help="CSV files in the same format, read together")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--calibration", default=None)
    p.add_argument(
        "--by",
        choices=("source", "era", "hardware", "framework"),
        default=None,
        help="also break the error down per source, engine era (framework family), hardware or framework",
    )
    p = sub.add_parser(
        "refit",
        help="refit one framework family's software costs on newer rows (an engine era), cross-validated",
    )
    p.add_argument("family", help="calibration family, e.g. vllm")
    p.add_argument("files", nargs="+", help="measurement CSV files (serving.csv)")
    p.add_argument(
        "--calibration", default=None, help="calibration JSON to start from (default: the shipped one)"
    )
    p.add_argument("--out", default=None, help="where to write (default: in place)")
    p = sub.add_parser("calibrate", help="fit efficiency factors on measured data and cross-validate them")
    p.add_argument("files", nargs="+", help="measurements CSV (and optionally a memory CSV)")
    p.add_argument("--out", default=None, help="where to write the calibration JSON")
    p.add_argument("--no-cv", action="store_true", help="skip cross-validation")
    p = sub.add_parser("benchmark", help="configurations per second of the vectorised engine")
    p.add_argument("--configurations", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--planning", action="store_true", help="time the capacity plan and a comparison with traffic sizing"
    )
    p.add_argument(
        "--team-fit",
        metavar="SERVING_CSV",
        default=None,
        help="time a team calibration fit (the service's worker path) on the first --rows rows of one lab's "
        "sources in this file (serving.csv), with its cross-validation",
    )
    p.add_argument("--rows", type=int, default=500)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console = Console()
    if not argv:
        return _interactive(console)
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    handler = {
        "estimate": cmd_estimate,
        "export": cmd_export,
        "plan": cmd_plan,
        "breakeven": lambda a, c: cmd_breakeven(a, c, _slo(a).to_dict()),
        "compare": cmd_compare,
        "models": cmd_models,
        "hardware": cmd_hardware,
        "validate": cmd_validate,
        "calibrate": cmd_calibrate,
        "refit": cmd_refit,
        "benchmark": cmd_benchmark,
    }[args.command]
    try:
        return handler(args, console)
    except InputError as error:
        console.print(f"[red]error[/] {error}")
        return 2
    except (FileNotFoundError, ValueError) as error:
        console.print(f"[red]error[/] {error}")
        return 2
