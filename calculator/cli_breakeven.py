"""`python -m calculator breakeven`: a hosted API against renting or buying the GPUs, as a table."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from calculator.calibration import load_calibration
from calculator.cli_tables import print_table
from calculator.planning.breakeven import (
    DEFAULT_LEVELS,
    OPTION_LABELS,
    OPTIONS,
    BreakevenResult,
    compute_breakeven,
    resolve_breakeven_request,
)


def add_parser(sub: Any, slo_args: Any) -> None:
    p = sub.add_parser(
        "breakeven",
        help="monthly cost of a hosted API against renting or buying the GPUs a traffic needs, and where "
        "they cross",
    )
    p.add_argument("--model", "-m", required=True)
    p.add_argument("--prompt-tokens", type=int, default=1000)
    p.add_argument("--output-tokens", type=int, default=200)
    p.add_argument(
        "--requests-per-day",
        type=float,
        nargs="+",
        default=list(DEFAULT_LEVELS),
        help="traffic levels (default: 1k 10k 100k 1M)",
    )
    p.add_argument("--hardware", "-H", default="*", help="hardware keys, comma-separated (default: all)")
    p.add_argument("--precision", "-p", default="bf16,fp16,fp8", help="self-hosted precisions ('*': all)")
    p.add_argument("--framework", "-f", default="*")
    p.add_argument(
        "--options",
        default=",".join(OPTIONS),
        help=f"self-hosted options (default: all): {', '.join(OPTIONS)}; rent: the on-demand default",
    )
    p.add_argument("--provider", default="", help="hosted APIs to compare (default: all listed)")
    p.add_argument("--lifetime-years", type=float, default=3.0)
    p.add_argument("--usd-per-kwh", type=float, default=0.12)
    p.add_argument("--pue", type=float, default=1.3)
    p.add_argument("--ops-usd-per-gpu-month", type=float, default=0.0)
    p.add_argument("--calibration", default=None)
    slo_args(p)
    p.add_argument("--json", action="store_true")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def cmd_breakeven(args: argparse.Namespace, console: Console, slo: dict[str, float]) -> int:
    raw: dict[str, Any] = {
        "model": args.model,
        "prompt_tokens": args.prompt_tokens,
        "output_tokens": args.output_tokens,
        "requests_per_day": args.requests_per_day,
        "peak_to_mean": args.peak_to_mean or 1.0,
        "max_utilization": args.max_utilization,
        "hardware": _split(args.hardware),
        "precisions": _split(args.precision),
        "frameworks": _split(args.framework),
        "options": _split(args.options),
        "providers": _split(args.provider),
        "lifetime_years": args.lifetime_years,
        "usd_per_kwh": args.usd_per_kwh,
        "pue": args.pue,
        "ops_usd_per_gpu_month": args.ops_usd_per_gpu_month,
        "slo": slo,
    }
    calibration = load_calibration(args.calibration) if args.calibration else None
    result = compute_breakeven(resolve_breakeven_request(raw), calibration=calibration)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        render_breakeven(result, console)
    return 0


def _usd(value: float | None) -> str:
    if value is None:
        return "no price"
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def _billed(price: dict[str, Any] | None) -> str:
    """What a priced rent kind or a buy was billed at, in a few words (empty for the catalog default)."""
    if not price:
        return ""
    if "instances" in price:
        return (
            f"; {price['instances']} x {price['gpus_per_instance']}-GPU instance at "
            f"${price['usd_per_instance_hour']:g}/h, {price['provider']} {price['as_of']}"
        )
    if price["basis"] == "server":
        return f"; {price['servers']} x {price['server']} at ${price['server_usd']:,.0f}"
    return "; accelerator purchase price"


def _per_million(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.3g}" if value < 100 else f"${value:,.0f}"


def render_token_prices(result: BreakevenResult, console: Console) -> None:
    """$/1M input / output tokens at each level: an API's list prices; renting and buying, each request's
    monthly cost split by the device time of its prefill and of its decode steps at the deployment's operating
    point (breakeven module docstring), so that input x prompt + output x output tokens is the cost per
    request, as for an API."""
    r = result.request
    table = Table(
        title="per 1M input / output tokens (self-hosted: the cost split by each phase's device time)"
    )
    table.add_column("requests/day", justify="right")
    for p in result.prices:
        table.add_column(f"{p.provider} API", justify="right")
    for option in r.options:
        table.add_column(OPTION_LABELS[option], justify="right")
    for lv in result.levels:
        cells = [f"{lv.requests_per_day:,.0f}"]
        cells += [
            f"{_per_million(p.input_usd_per_million)} / {_per_million(p.output_usd_per_million)}"
            for p in result.prices
        ]
        for option in r.options:
            hosted = lv.self_hosted[option]
            if hosted is None:
                cells.append("-")
                continue
            split = hosted.token_costs(
                lv.per_request_usd(hosted.monthly_usd), r.prompt_tokens, r.output_tokens
            )
            cells.append(
                f"{_per_million(split['usd_per_million_input_tokens'])} / "
                f"{_per_million(split['usd_per_million_output_tokens'])}"
            )
        table.add_row(*cells)
    print_table(console, table)


def render_breakeven(result: BreakevenResult, console: Console) -> None:
    r = result.request
    slo = ", ".join(f"{k} {v:g}" for k, v in r.slo.to_dict().items()) or "none (utilisation cap only)"
    table = Table(
        title=f"{r.model}: {r.prompt_tokens} in / {r.output_tokens} out, SLO {slo}, peak/mean "
        f"{r.peak_to_mean:g}: monthly cost"
    )
    table.add_column("requests/day", justify="right")
    for p in result.prices:
        table.add_column(f"{p.provider} API", justify="right")
    for option in r.options:
        table.add_column(OPTION_LABELS[option], justify="right")
        table.add_column(f"{OPTION_LABELS[option]}: deployment", justify="left")
    for lv in result.levels:
        cells = [f"{lv.requests_per_day:,.0f}"]
        cells += [_usd(lv.api_monthly_usd[p.provider]) for p in result.prices]
        for option in r.options:
            hosted = lv.self_hosted[option]
            if hosted is None:
                cells += ["none meets the SLO", ""]
                continue
            d = hosted.deployment
            cells += [
                _usd(hosted.monthly_usd),
                f"{d.replicas} x {d.hardware} TP{d.tensor_parallel} {d.precision} {d.framework} "
                f"({d.utilization:.0%}){_billed(hosted.price)}",
            ]
        table.add_row(*cells)
    print_table(console, table)
    render_token_prices(result, console)
    for c in result.crossovers:
        if c.requests_per_day is None or c.at is None:
            label, top = OPTION_LABELS[c.option], max(r.requests_per_day) * 10
            console.print(f"{label} never undercuts {c.provider}'s API up to {top:,.0f}/day")
            continue
        d = c.at.deployment
        console.print(
            f"{OPTION_LABELS[c.option]} undercuts {c.provider}'s API from {c.requests_per_day:,.0f} "
            "requests/day: "
            f"{d.replicas} x {d.hardware} TP{d.tensor_parallel} {d.precision} at {d.utilization:.0%} "
            f"utilisation, {_usd(c.at.monthly_usd)}/month against {_usd(c.api_monthly_usd)}"
        )
    for p in result.prices:
        console.print(
            f"{p.provider}: ${p.input_usd_per_million:g} / ${p.output_usd_per_million:g} per 1M input / "
            f"output tokens ({p.api_model}, read {p.as_of}, {p.source})"
        )
    for note in result.notes:
        console.print(note)
