"""The project's own measurements (measured/): same format as the shared calibration set, every row predicted,
and the llama-bench converter maps tests to the right metrics."""

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from calculator.cli_validate import read_rows
from calculator.validate import predict_rows

ROOT = Path(__file__).resolve().parents[2]
MEASURED = ROOT / "measured" / "measurements.csv"
SHARED = ROOT.parent / "shared" / "calibration" / "measurements.csv"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "measured" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measured_rows_use_the_calibration_format_with_their_own_ids_and_sources():
    with MEASURED.open(newline="") as fh:
        header = next(csv.reader(fh))
    with SHARED.open(newline="") as fh:
        assert header == next(csv.reader(fh))
    rows = read_rows(MEASURED)
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & {r["id"] for r in read_rows(SHARED)}
    assert {r["source"] for r in rows} == {
        "device-hf-transformers-h200-sxm-141gb",
        "device-hf-transformers-h100-sxm-80gb",
        "device-llamacpp-h200-sxm-141gb",
    }
    # Each row names the script that produced it, and that script is in the repository.
    for row in rows:
        script = next(
            w for w in row["notes"].replace("(", " ").replace(")", " ").split() if w.startswith("measured/")
        )
        assert (ROOT / script.rstrip(".,;")).exists(), row["id"]


def test_every_measured_row_is_predicted_within_the_roofline():
    report = predict_rows(read_rows(MEASURED))
    assert len(report.predictions) == len(read_rows(MEASURED)) > 50
    assert report.unresolved == []
    assert report.physics_violations == []


def test_validate_reads_several_files_together():
    out = subprocess.run(
        [sys.executable, "-m", "calculator", "validate", str(SHARED), str(MEASURED), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    summary = json.loads(out.stdout)
    assert summary["rows"] == summary["predicted"] == len(read_rows(SHARED)) + len(read_rows(MEASURED))


def test_llama_bench_records_become_prefill_and_decode_rows():
    convert = load_script("llamacpp_rows")
    common = {
        "model_filename": "/dev/shm/gguf/llama-3.2-1b-q4_0.gguf",
        "n_gpu_layers": 99,
        "flash_attn": 0,
        "n_batch": 2048,
        "n_ubatch": 512,
        "stddev_ts": 1.5,
        "gpu_info": "NVIDIA H200",
        "samples_ts": [1.0, 2.0, 3.0],
    }
    records = [
        {**common, "n_prompt": 512, "n_gen": 0, "avg_ts": 37119.2},
        {**common, "n_prompt": 0, "n_gen": 128, "avg_ts": 810.0},
    ]
    rows = convert.rows(records, "h200-sxm-141gb", 7, "commit abc")
    assert [r["id"] for r in rows] == ["d007", "d008"]
    assert [(r["model"], r["precision"]) for r in rows] == [("llama-3.2-1b", "q4_0")] * 2
    assert [(r["metric"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        ("prefill_tokens_per_s", 512, 0),
        ("decode_tokens_per_s_per_user", 0, 128),
    ]
    assert "flash attention off" in rows[0]["notes"] and "mean of 3 runs" in rows[0]["notes"]
    report = predict_rows([{k: str(v) for k, v in r.items()} for r in rows])
    assert len(report.predictions) == 2
