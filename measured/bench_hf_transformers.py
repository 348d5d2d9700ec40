"""Ground truth for the ``hf-transformers`` framework: time Hugging Face ``generate()`` on a GPU.

Builds Llama-shaped models with random bf16 weights from the project's model catalog
(``calculator/data/models.csv``: layers, widths, heads, vocabulary; nothing is downloaded), then times

* prefill: ``generate(max_new_tokens=1)`` on one prompt of L tokens -> ``prefill_tokens_per_s = L / t``;
* single-stream decode: ``(N - 1) / (t(N) - t(1))`` for one 128-token prompt, greedy, N new tokens;
* static batches: ``B * N / t(N)`` for B prompts of 128 tokens generated together (prefill included,
  as TensorRT-LLM's gptSessionBenchmark reports a static batch).

Each figure is the median of ``--repeats`` timed runs after one warm-up, with the device synchronised
around the host clock. Rows are written in ``../shared/calibration/measurements.csv``'s columns, one
file per run, as they are measured. A JSON log beside them holds the machine, versions, the measured
copy bandwidth and bf16 matrix rate, peak memory per batch and an eager-attention prefill comparison.

    python3 measured/bench_hf_transformers.py --out rows.csv --log log.json  # torch + transformers + CUDA
    python3 measured/bench_hf_transformers.py --smoke  # tiny CPU run: checks the code
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

MODELS_CSV = Path(__file__).resolve().parent.parent / "calculator" / "data" / "models.csv"
with (Path(__file__).resolve().parent / "measurements.csv").open(newline="") as _header:
    COLUMNS = next(csv.reader(_header))
"""The calibration CSV's columns, as measured/measurements.csv (and ../shared/calibration) spell them."""
HARDWARE_BY_NAME = (
    ("H200", "h200-sxm-141gb"),
    ("H100 80GB HBM3", "h100-sxm-80gb"),
    ("H100 PCIe", "h100-pcie-80gb"),
)
PROMPT = 128


def llama_config(key: str, *, smoke: bool = False) -> LlamaConfig:
    """A LlamaConfig with the catalog's shape for ``key`` (a Llama-architecture row of models.csv)."""
    with MODELS_CSV.open(newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["key"] == key)
    shape = {
        "hidden_size": int(row["hidden_size"]),
        "intermediate_size": int(row["intermediate_size"]),
        "num_hidden_layers": int(row["num_layers"]),
        "num_attention_heads": int(row["num_attention_heads"]),
        "num_key_value_heads": int(row["num_kv_heads"]),
        "head_dim": int(row["head_dim"]),
        "vocab_size": int(row["vocab_size"]),
        "max_position_embeddings": int(row["max_context_tokens"]),
        "tie_word_embeddings": row["tied_embeddings"] == "true",
    }
    if smoke:
        shape.update(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            vocab_size=1000,
        )
    return LlamaConfig(**shape)


def build(key: str, attn: str, device: torch.device, dtype: torch.dtype, smoke: bool) -> LlamaForCausalLM:
    with device:
        model = LlamaForCausalLM._from_config(
            llama_config(key, smoke=smoke), dtype=dtype, attn_implementation=attn
        )
    model.eval()
    return model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_generate(model: LlamaForCausalLM, batch: int, prompt: int, new: int, repeats: int) -> float:
    """Median wall time of ``generate`` for ``batch`` random prompts of ``prompt`` tokens, ``new`` more."""
    device = model.device
    config = GenerationConfig(
        max_new_tokens=new, min_new_tokens=new, do_sample=False, eos_token_id=None, pad_token_id=0
    )
    times = []
    for i in range(repeats + 1):
        ids = torch.randint(3, model.config.vocab_size, (batch, prompt), device=device)
        sync(device)
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
        sync(device)
        elapsed = time.perf_counter() - start
        if out.shape != (batch, prompt + new):
            raise RuntimeError(f"generate returned {tuple(out.shape)}, wanted {(batch, prompt + new)}")
        if i:  # the first run warms up kernels and allocator
            times.append(elapsed)
    return statistics.median(times)


def ceilings(device: torch.device) -> dict[str, float]:
    """Measured copy bandwidth (bytes read + written) and bf16 matrix rate, as METHOD.md asks."""
    if device.type != "cuda":
        return {}
    src = torch.randn(1024 * 1024 * 1024, device=device, dtype=torch.bfloat16)  # 2 GiB
    dst = torch.empty_like(src)
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)

    def rate(fn: Any, work: float) -> float:
        for _ in range(3):
            fn()
        sync(device)
        start = time.perf_counter()
        for _ in range(10):
            fn()
        sync(device)
        return work * 10 / (time.perf_counter() - start)

    out = {
        "copy_bytes_per_s": rate(lambda: dst.copy_(src), 2 * src.numel() * 2),
        "bf16_flop_per_s": rate(lambda: a @ b, 2 * 8192**3),
    }
    torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("hf_transformers_rows.csv"))
    p.add_argument("--log", type=Path, default=Path("hf_transformers_log.json"))
    p.add_argument("--models", default="llama-3.2-1b,llama-3.2-3b,llama-3.1-8b,llama-2-13b")
    p.add_argument("--prefill", default="128,512,2048,8192", help="prompt lengths for the prefill rows")
    p.add_argument("--batches", default="8,32,128", help="static batch sizes")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--smoke", action="store_true", help="tiny models on the CPU: checks the code, not the GPU"
    )
    args = p.parse_args(argv)

    device = torch.device("cpu" if args.smoke else "cuda")
    dtype = torch.float32 if args.smoke else torch.bfloat16
    name = "cpu-smoke" if args.smoke else torch.cuda.get_device_name(0)
    hardware = next((k for text, k in HARDWARE_BY_NAME if text in name), name)
    version = f"transformers {transformers.__version__}, torch {torch.__version__}"
    version += "; generate(), DynamicCache, greedy"
    source = f"device-hf-transformers-{hardware}"
    log: dict[str, Any] = {
        "device": name,
        "hardware": hardware,
        "versions": version,
        "python": sys.version,
        "ceilings": ceilings(device),
        "models": {},
    }
    print(json.dumps(log), flush=True)

    n = 0
    with args.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()

        def emit(
            model_key: str,
            scenario: str,
            metric: str,
            value: float,
            unit: str,
            inp: int,
            outp: int,
            batch: int,
            how: str,
        ) -> None:
            nonlocal n
            n += 1
            writer.writerow(
                {
                    "id": f"d{n:03d}",
                    "model": model_key,
                    "hardware": hardware,
                    "num_gpus": 1,
                    "precision": "fp32" if args.smoke else "bf16",
                    "framework": "hf-transformers",
                    "tp": 1,
                    "pp": 1,
                    "input_tokens": inp,
                    "output_tokens": outp,
                    "batch_size": batch,
                    "concurrency": "",
                    "request_rate": "",
                    "scenario": scenario,
                    "metric": metric,
                    "value": f"{value:.2f}",
                    "unit": unit,
                    "source": source,
                    "framework_version": version,
                    "lengths": "stated",
                    "notes": f"Random bf16 weights, catalog shape, sdpa attention; {how}; median of "
                    f"{args.repeats} runs after a warm-up (measured/bench_hf_transformers.py).",
                }
            )
            fh.flush()
            print(
                f"{model_key:14} {scenario:14} {metric:30} in={inp:5} out={outp:4} b={batch:4}",
                f"{value:10.4g} {unit}",
                flush=True,
            )

        for key in args.models.split(","):
            model = build(key, "sdpa", device, dtype, args.smoke)
            context = model.config.max_position_embeddings
            entry: dict[str, Any] = {
                "param_bytes": sum(t.numel() * t.element_size() for t in model.parameters())
            }
            for length in (int(x) for x in args.prefill.split(",")):
                if length + 1 > context:
                    continue
                t = timed_generate(model, 1, length, 1, args.repeats)
                emit(
                    key,
                    "single_stream",
                    "prefill_tokens_per_s",
                    length / t,
                    "tokens/s",
                    length,
                    1,
                    1,
                    f"prefill = prompt tokens / wall time of generate(max_new_tokens=1), {t * 1e3:.2f} ms",
                )
            t1 = timed_generate(model, 1, PROMPT, 1, args.repeats)
            tn = timed_generate(model, 1, PROMPT, args.new_tokens, args.repeats)
            emit(
                key,
                "single_stream",
                "decode_tokens_per_s_per_user",
                (args.new_tokens - 1) / (tn - t1),
                "tokens/s",
                PROMPT,
                args.new_tokens,
                1,
                f"decode = (N-1) / (t(N) - t(1)), t(1) {t1 * 1e3:.2f} ms, t(N) {tn * 1e3:.1f} ms",
            )
            entry["peak_bytes"] = {}
            for batch in (int(x) for x in args.batches.split(",")):
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                t = timed_generate(model, batch, PROMPT, args.new_tokens, args.repeats)
                if device.type == "cuda":
                    entry["peak_bytes"][batch] = torch.cuda.max_memory_allocated()
                emit(
                    key,
                    "static_batch",
                    "output_tokens_per_s_total",
                    batch * args.new_tokens / t,
                    "tokens/s",
                    PROMPT,
                    args.new_tokens,
                    batch,
                    f"static batch: B x N / wall time of generate (prefill included), {t:.3f} s",
                )
            log["models"][key] = entry
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()

        # Does the attention kernel matter? Same prefill with eager (materialised) attention, log only.
        key = "llama-3.1-8b" if not args.smoke else args.models.split(",")[0]
        eager = build(key, "eager", device, dtype, args.smoke)
        log["eager_prefill_ms"] = {
            L: timed_generate(eager, 1, L, 1, args.repeats) * 1e3
            for L in (512, 2048, 8192)
            if eager.config.max_position_embeddings >= L + 1
        }
        del eager
    args.log.write_text(json.dumps(log, indent=1))
    print(json.dumps(log["eager_prefill_ms"]), f"rows={n}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
