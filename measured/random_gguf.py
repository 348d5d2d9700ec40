"""Write a Llama-architecture GGUF file with random weights in the catalog's shape, for llama-bench.

Nothing is downloaded: layer count, widths, heads and vocabulary come from ``calculator/data/models.csv``;
the vocabulary is placeholder tokens (speed does not depend on it). Quantised tensors are whole ggml
blocks with a fixed scale and random quants (Q4_0: f16 scale + 16 bytes of 4-bit quants per 32 weights;
Q8_0: f16 scale + 32 int8 per 32 weights, ggml-common.h block_q4_0 / block_q8_0); norms stay f32 as
llama-quantize leaves them. Needs numpy and llama.cpp's gguf-py on PYTHONPATH.

    PYTHONPATH=llama.cpp/gguf-py python measured/random_gguf.py llama-3.1-8b q4_0 out.gguf
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType

MODELS_CSV = Path(__file__).resolve().parent.parent / "calculator" / "data" / "models.csv"
TYPES = {
    "f16": (GGMLQuantizationType.F16, LlamaFileType.MOSTLY_F16),
    "q8_0": (GGMLQuantizationType.Q8_0, LlamaFileType.MOSTLY_Q8_0),
    "q4_0": (GGMLQuantizationType.Q4_0, LlamaFileType.MOSTLY_Q4_0),
}
POOL = 1 << 22  # random values are drawn once and tiled: content does not change speed


def _rows(rng: np.random.Generator, rows: int, cols: int, kind: GGMLQuantizationType) -> np.ndarray:
    if kind == GGMLQuantizationType.F16:
        pool = (rng.standard_normal(POOL) * 0.02).astype(np.float16)
        return np.resize(pool, rows * cols).reshape(rows, cols)
    quants = 16 if kind == GGMLQuantizationType.Q4_0 else 32
    pool = rng.integers(0, 256, (POOL // 32, 2 + quants), dtype=np.uint8)
    pool[:, :2] = np.frombuffer(np.float16(0.002).tobytes(), dtype=np.uint8)
    blocks = np.resize(pool, (rows * (cols // 32), 2 + quants))
    return blocks.reshape(rows, (cols // 32) * (2 + quants))


def write(key: str, precision: str, path: Path, *, layers: int | None = None, seed: int = 0) -> None:
    with MODELS_CSV.open(newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["key"] == key)
    hidden, inter = int(row["hidden_size"]), int(row["intermediate_size"])
    heads, kv, head_dim = int(row["num_attention_heads"]), int(row["num_kv_heads"]), int(row["head_dim"])
    vocab, n_layers = int(row["vocab_size"]), layers or int(row["num_layers"])
    kind, ftype = TYPES[precision]
    rng = np.random.default_rng(seed)

    w = GGUFWriter(path, "llama")
    w.add_name(f"random {key}")
    w.add_context_length(int(row["max_context_tokens"]))
    w.add_embedding_length(hidden)
    w.add_block_count(n_layers)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_file_type(ftype)
    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tokens = specials + byte_tokens + [f"t{i}" for i in range(vocab - len(specials) - 256)]
    types = (
        [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
        + [TokenType.BYTE] * 256
        + [TokenType.NORMAL] * (vocab - 259)
    )
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * vocab)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def matrix(name: str, rows: int, cols: int) -> None:
        data = _rows(rng, rows, cols, kind)
        w.add_tensor(name, data, raw_dtype=kind)  # byte rows: gguf-py derives the shape

    def norm(name: str) -> None:
        w.add_tensor(name, np.ones(hidden, dtype=np.float32))

    matrix("token_embd.weight", vocab, hidden)
    norm("output_norm.weight")
    if row["tied_embeddings"] != "true":
        matrix("output.weight", vocab, hidden)
    for i in range(n_layers):
        norm(f"blk.{i}.attn_norm.weight")
        matrix(f"blk.{i}.attn_q.weight", heads * head_dim, hidden)
        matrix(f"blk.{i}.attn_k.weight", kv * head_dim, hidden)
        matrix(f"blk.{i}.attn_v.weight", kv * head_dim, hidden)
        matrix(f"blk.{i}.attn_output.weight", hidden, heads * head_dim)
        norm(f"blk.{i}.ffn_norm.weight")
        matrix(f"blk.{i}.ffn_gate.weight", inter, hidden)
        matrix(f"blk.{i}.ffn_up.weight", inter, hidden)
        matrix(f"blk.{i}.ffn_down.weight", hidden, inter)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("precision", choices=sorted(TYPES))
    p.add_argument("out", type=Path)
    p.add_argument("--layers", type=int, default=None, help="fewer layers than the catalog (a smoke test)")
    args = p.parse_args()
    write(args.model, args.precision, args.out, layers=args.layers)


if __name__ == "__main__":
    main()
