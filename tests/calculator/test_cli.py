"""The command line as a user runs it: a subprocess of `python -m calculator`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "calibration"


def run(*args: str, stdin: str | None = None, columns: int = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calculator", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": str(columns), "PYTHONPATH": str(ROOT)},
    )


def test_estimate_json_is_one_object_with_every_section():
    out = run("estimate", "-m", "llama-3.1-8b", "-H", "h100", "-p", "fp8", "--json")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert payload["inputs"]["hardware"] == "h100-sxm-80gb"
    assert payload["memory"]["fits"] is True
    assert payload["performance"]["decode_tokens_per_s_per_user"] > 0


def test_estimate_table_shows_memory_performance_and_cost():
    out = run("estimate", "-m", "7B", "-H", "RTX4090", "--deployment-mode", "local")
    assert out.returncode == 0, out.stderr
    for word in ("Memory per device", "TPOT", "decode tokens/s per user", "Cost", "Score"):
        assert word in out.stdout


def test_compare_ranks_and_exports_csv():
    out = run(
        "compare",
        "-m",
        "llama-3.1-8b",
        "-H",
        "h100-sxm-80gb,a100-sxm-80gb,rtx-4090-24gb",
        "-p",
        "fp16,fp8",
        "--objective",
        "cost",
        "--csv",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("rank,model,hardware")
    assert len(lines) == 1 + 6
    ranks = [int(line.split(",")[0]) for line in lines[1:]]
    assert ranks == sorted(ranks)


def test_compare_json_top():
    out = run("compare", "-m", "llama-3.1-8b,qwen3-8b", "-H", "h100", "--top", "1", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 1 and rows[0]["rank"] == 1


@pytest.mark.parametrize("command", ["models", "hardware"])
def test_catalog_listings(command):
    out = run(command, "--json")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) > 50


def test_unknown_model_exits_2_with_close_matches():
    out = run("estimate", "-m", "lama-3.1-8b")
    assert out.returncode == 2
    assert "llama-3.1-8b" in out.stdout


def test_interactive_mode_answers_with_defaults():
    out = run(stdin="\n" * 10)
    assert out.returncode == 0, out.stderr
    assert "Memory per device" in out.stdout


@pytest.mark.parametrize("name", ["measurements.csv", "memory.csv"])
def test_validate_json_predicts_every_row_within_the_roofline(name):
    out = run("validate", str(SHARED / name), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["rows"] == summary["predicted"] > 400
    assert summary["unresolved"] == []
    assert summary["physics_violations"] == []
    for group in (*summary["metrics"].values(), *summary["scenarios"].values()):
        assert set(group) >= {"n", "median_ape", "mean_ape", "within_25pct"}


def test_validate_reports_rows_it_cannot_predict(tmp_path):
    bad = tmp_path / "bad.csv"
    header = (SHARED / "measurements.csv").read_text().splitlines()[0]
    good_row = (SHARED / "measurements.csv").read_text().splitlines()[1]
    bad.write_text(
        "\n".join(
            [header, good_row, good_row.replace("llama-3.1-8b", "no-such-model", 1).replace("m001", "zz1", 1)]
        )
        + "\n"
    )
    out = run("validate", str(bad), "--json")
    summary = json.loads(out.stdout)
    assert summary["predicted"] == 1
    assert summary["unresolved"] == ["zz1"]


def test_benchmark_prints_configurations_per_second():
    out = run("benchmark", "--configurations", "20000", "--repeats", "1")
    assert out.returncode == 0, out.stderr
    assert "configurations/s" in out.stdout


def test_engine_never_imports_django_or_celery():
    code = (
        "import sys, calculator; calculator.estimate('7B', 'RTX4090'); print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('django', 'celery', 'rest_framework')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_saturated_rate_prints_unbounded_waits_not_infinities():
    args = ("estimate", "-m", "llama-3.1-70b", "-H", "h100-sxm-80gb", "-p", "fp8", "--tp", "4")
    out = run(*args, "--prompt-tokens", "1000", "--output-tokens", "200", "--request-rate", "20").stdout
    online = " ".join(out[out.index("Online") :].split())
    assert "TTFT p50 unbounded, p99 unbounded" in online and "(saturated)" in online
    assert "inf" not in online.split("(saturated)")[0]


def test_breakeven_prints_the_costs_and_where_self_hosting_wins():
    out = run(
        "breakeven", "-m", "llama-3.1-70b", "-H", "h100-sxm-80gb,l40s-48gb", "-f", "vllm",
        "--requests-per-day", "1000", "1000000", "--ttft-p99-ms", "2000", "--provider", "fireworks",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "rent (on-demand) undercuts fireworks's API from" in text and "buy" in text
    assert "https://fireworks.ai/pricing" in text.replace(" ", "")
    bad = run("breakeven", "-m", "llama-3.1-70b", "--provider", "nobody")
    assert bad.returncode == 2 and "providers" in bad.stdout


def test_estimate_prints_the_cost_per_token_both_ways_and_the_device_time_behind_it():
    args = ("estimate", "-m", "llama-3.1-70b", "-H", "h100-sxm-80gb", "-p", "fp8", "--tp", "4", "-b", "8")
    out = run(*args, "--prompt-tokens", "2000", "--output-tokens", "200")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "Device time per batch of 8: prefill" in text and "+ 199 decode steps x" in text
    for label in (
        "1M output tokens (all device time)",
        "1M input tokens (prefill share)",
        "1M output tokens (decode share)",
        "1M tokens, blended (prompt + output)",
    ):
        assert label in text
    cost = json.loads(run(*args, "--prompt-tokens", "2000", "--output-tokens", "200", "--json").stdout)[
        "cost"
    ]
    both = (
        cost["prefill_cost_per_million_input_tokens_usd"] * 2000
        + cost["decode_cost_per_million_output_tokens_usd"] * 200
    ) / 1e6
    assert both == pytest.approx(cost["cost_per_request_usd"], rel=1e-9)


def test_breakeven_prints_input_and_output_token_prices_for_every_option():
    out = run(
        "breakeven", "-m", "llama-3.1-70b", "-H", "h100-sxm-80gb", "-f", "vllm", "-p", "fp8",
        "--requests-per-day", "100000", "--ttft-p99-ms", "2000", "--provider", "deepinfra",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "per 1M input / output tokens (self-hosted: the cost split by each phase's device time)" in text
    assert "$0.13 / $0.4" in text


PLAN_8 = ("plan", "-m", "llama-3.1-70b", "-H", "h100-sxm-80gb", "-p", "fp8", "-f", "vllm", "--gpus", "8")
COMPARE_4 = ("compare", "-m", "llama-3.1-8b", "-H", "h100-sxm-80gb,a100-sxm-80gb", "-p", "fp16,fp8")


@pytest.mark.parametrize(
    ("args", "whole"),
    [
        (PLAN_8, "h100-sxm-80gb"),
        (COMPARE_4, "a100-sxm-80gb"),
        (("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm-80gb", "-p", "fp8"), "decode tokens/s per user"),
    ],
)
def test_tables_at_80_columns_and_piped_cut_no_cell(args, whole):
    """Piped output (rich assumes 80 columns) and narrow terminals: a table too wide for the width is printed
    one block per row, "column: value", never with cells cut to a letter and an ellipsis."""
    out = run(*args, columns=80)
    assert out.returncode == 0, out.stderr
    assert "\u2026" not in out.stdout, out.stdout
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    assert whole in out.stdout
