"""Turn llama-bench JSON lines (measured/device_llamacpp.sh) into measurement rows.

pp<N> -> single_stream prefill_tokens_per_s (input N, output 0); tg<N> -> single_stream
decode_tokens_per_s_per_user (input 0, output N), as the published llama-bench rows are recorded.
Model and precision come from the GGUF file name that random_gguf.py wrote (<model>-<precision>.gguf).

    python measured/llamacpp_rows.py llama_bench.jsonl --hardware h200-sxm-141gb --first-id 101 >> rows.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

with (Path(__file__).resolve().parent / "measurements.csv").open(newline="") as _header:
    COLUMNS = next(csv.reader(_header))
"""The calibration CSV's columns, as measured/measurements.csv (and ../shared/calibration) spell them."""


def rows(results: list[dict], hardware: str, first_id: int, build: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i, r in enumerate(results):
        model, precision = Path(r["model_filename"]).stem.rsplit("-", 1)
        prompt, gen = int(r["n_prompt"]), int(r["n_gen"])
        test = f"pp{prompt}" if prompt else f"tg{gen}"
        flash = "on" if r["flash_attn"] not in (0, False, "0", "off") else "off"
        runs = len(r.get("samples_ts", [])) or "?"
        out.append(
            {
                "id": f"d{first_id + i:03d}",
                "model": model,
                "hardware": hardware,
                "num_gpus": 1,
                "precision": precision,
                "framework": "llama.cpp",
                "tp": 1,
                "pp": 1,
                "input_tokens": prompt,
                "output_tokens": gen,
                "batch_size": 1,
                "concurrency": "",
                "request_rate": "",
                "scenario": "single_stream",
                "metric": "prefill_tokens_per_s" if prompt else "decode_tokens_per_s_per_user",
                "value": f"{float(r['avg_ts']):.2f}",
                "unit": "tokens/s",
                "source": f"device-llamacpp-{hardware}",
                "framework_version": f"llama.cpp {build}, llama-bench, CUDA sm_90 (built 2026-11)",
                "notes": (
                    f"llama-bench {test}, -ngl {r['n_gpu_layers']}, flash attention "
                    f"{flash}, n_batch {r['n_batch']}, n_ubatch {r['n_ubatch']}, mean of {runs} runs "
                    f"(stdev {float(r['stddev_ts']):.1f} tokens/s); random-weight GGUF in the catalog's "
                    "shape (measured/random_gguf.py, measured/device_llamacpp.sh). "
                    f"GPU as printed: {r['gpu_info']}."
                ),
                "lengths": "stated",
            }
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("jsonl", type=Path)
    p.add_argument("--hardware", required=True, help="catalog key of the GPU")
    p.add_argument("--first-id", type=int, default=101)
    p.add_argument("--build", default="commit 0c1e570 (vendored by llama-cpp-python 0.3.36)")
    p.add_argument("--header", action="store_true")
    args = p.parse_args()
    results = [json.loads(line) for line in args.jsonl.read_text().splitlines() if line.strip()]
    writer = csv.DictWriter(sys.stdout, COLUMNS, lineterminator="\n")
    if args.header:
        writer.writeheader()
    writer.writerows(rows(results, args.hardware, args.first_id, args.build))


if __name__ == "__main__":
    main()
