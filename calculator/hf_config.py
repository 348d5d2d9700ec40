"""Map a published Hugging Face ``config.json`` to a :class:`ModelSpec`.

Parameter counts are exact and follow the formulas in the reference NOTES.md section 3:

* dense decoder (Llama/Mistral/Qwen/Gemma/Phi-3/Granite/GLM-4): q/k/v/o projections, gated MLP (3*d*f),
  RMSNorms, optional QKV bias (Qwen2/Qwen2.5/Qwen1.5, GLM-4), q/k RMSNorm (Qwen3, Gemma 3) and the Gemma 2/3
  post-norms; embedding V*d plus an untied head V*d;
* MoE (Mixtral, Qwen2-MoE/Qwen1.5-MoE, Qwen3-MoE, DeepSeek-V2/V3, gpt-oss, Llama 4): routed experts, router,
  shared experts, first_k_dense_replace dense layers;
* MLA attention (DeepSeek-V2/V3, Kimi-VL's text model);
* LayerNorm families with biases: Phi-2 (both the HF ``phi`` and the older ``phi-msft`` layout),
  GPT-NeoX (Pythia), Falcon.

Vision towers are not counted here (their architectures vary); a warning says so and ``params_vision`` is 0.
This module only parses data given to it; it never reads the network.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from calculator.specs import ModelSpec

__all__ = ["ConfigImportError", "model_from_hf_config"]


class ConfigImportError(ValueError):
    """The config cannot be mapped to a ModelSpec (missing field, unknown layout)."""


# Fields that carry no information for sizing; never warned about.
_HARMLESS = {
    "_name_or_path",
    "architectures",
    "auto_map",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "torch_dtype",
    "dtype",
    "transformers_version",
    "use_cache",
    "initializer_range",
    "initializer_factor",
    "rms_norm_eps",
    "layer_norm_eps",
    "layer_norm_epsilon",
    "norm_eps",
    "layernorm_epsilon",
    "attention_dropout",
    "attn_pdrop",
    "embd_pdrop",
    "resid_pdrop",
    "hidden_dropout",
    "embedding_dropout",
    "residual_dropout",
    "dropout",
    "hidden_act",
    "hidden_activation",
    "activation_function",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "rope_local_base_freq",
    "rotary_emb_base",
    "model_type",
    "tokenizer_class",
    "output_router_logits",
    "router_aux_loss_coef",
    "router_jitter_noise",
    "aux_loss_alpha",
    "seq_aux",
    "pretraining_tp",
    "use_sliding_window",
    "max_window_layers",
    "cache_implementation",
    "attn_logit_softcapping",
    "final_logit_softcapping",
    "query_pre_attn_scalar",
    "norm_topk_prob",
    "routed_scaling_factor",
    "scoring_func",
    "topk_method",
    "n_group",
    "topk_group",
    "ep_size",
    "num_nextn_predict_layers",
    "quantization_config",
    "swiglu_limit",
    "initial_context_length",
    "original_max_position_embeddings",
    "embedding_multiplier",
    "residual_multiplier",
    "attention_multiplier",
    "logits_scaling",
    "mlp_bias",
    "is_llama_config",
    "rope_interleaved",
    "use_parallel_residual",
    "parallel_attn",
    "bias",
    "alibi",
    "new_decoder_architecture",
    "multi_query",
    "num_kv_heads",
    "n_head_kv",
    "flash_attn",
    "flash_rotary",
    "fused_dense",
    "img_processor",
    "qk_layernorm",
    "partial_rotary_factor",
    "rotary_dim",
    "rotary_pct",
    "rotary_emb_fraction",
    "classifier_dropout",
    "attention_bias",
    "qkv_bias",
    "layer_types",
    "sliding_window_pattern",
    "use_qk_norm",
    "attention_chunk_size",
    "interleave_moe_layer_step",
    "intermediate_size_mlp",
    "no_rope_layers",
    "no_rope_layer_interval",
    "attn_temperature_tuning",
    "floor_scale",
    "attn_scale",
    "for_llm_compressor",
    "moe_layers",
    "decoder_sparse_step",
    "mlp_only_layers",
    "shared_expert_intermediate_size",
    "experts_per_token",
    "num_experts_per_tok",
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    "n_shared_experts",
    "moe_intermediate_size",
    "first_k_dense_replace",
    "moe_layer_freq",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
    "sliding_window",
    "tie_word_embeddings",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "max_position_embeddings",
    "n_embd",
    "n_layer",
    "n_head",
    "n_inner",
    "n_positions",
    "n_ctx",
    "lm_head_bias",
    "use_bias",
    "summary_activation",
    "summary_first_dropout",
    "summary_proj_to_labels",
    "summary_type",
    "summary_use_proj",
    "text_config",
    "vision_config",
    "image_token_index",
    "image_token_id",
    "video_token_id",
    "vision_start_token_id",
    "vision_end_token_id",
    "vision_token_id",
    "boi_token_index",
    "eoi_token_index",
    "mm_tokens_per_image",
    "projector_hidden_act",
    "multimodal_projector_bias",
    "spatial_merge_size",
    "vision_feature_layer",
    "vision_feature_select_strategy",
    "image_grid_pinpoints",
    "image_seq_length",
    "use_image_newline_parameter",
    "ignore_index",
    "media_placeholder_token_id",
    "head_dim_original",
    "tokenizer_model_max_length",
    "partial_rotary",
}

_LLAMA_LIKE = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen3",
    "qwen2_moe",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "phi3",
    "granite",
    "glm4",
    "llama4_text",
    "ministral",
    "ministral3",
    "cohere",
}
_MLA = {"deepseek_v2", "deepseek_v3", "kimi_k2"}
_TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3", "gemma3_text", "falcon"}
_QKV_BIAS_TYPES = {"qwen2", "qwen2_moe"}
_QK_NORM_TYPES = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text"}
_POST_NORM_TYPES = {"gemma2", "gemma3", "gemma3_text", "glm4"}
_FP_NAMES = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "float32": "fp32",
    "bf16": "bf16",
    "fp16": "fp16",
    "fp32": "fp32",
}


def _load(config: dict | str | Path) -> dict[str, Any]:
    if isinstance(config, dict):
        return dict(config)
    if isinstance(config, Path):
        try:
            return json.loads(config.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigImportError(f"cannot read config {config}: {exc}") from exc
    if isinstance(config, str):
        text = config.strip()
        if text.startswith("{"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigImportError(f"config is not valid JSON: {exc}") from exc
        return _load(Path(config))
    raise ConfigImportError(f"config must be a dict, JSON text or a path, not {type(config).__name__}")


SIZE_BOUNDS = {
    **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers"), 10_000),
    **dict.fromkeys(
        ("num_attention_heads", "num_key_value_heads", "n_head", "multi_query_group_num"), 100_000
    ),
    **dict.fromkeys(("n_routed_experts", "num_experts", "num_local_experts", "num_experts_per_tok"), 100_000),
    **dict.fromkeys(
        (
            "hidden_size",
            "n_embd",
            "intermediate_size",
            "moe_intermediate_size",
            "head_dim",
            "kv_lora_rank",
            "q_lora_rank",
            "qk_rope_head_dim",
            "qk_nope_head_dim",
            "v_head_dim",
            "vocab_size",
        ),
        10_000_000,
    ),
    **dict.fromkeys(("max_position_embeddings", "sliding_window"), 1_000_000_000),
}
"""Largest value each size field may hold (far beyond any released model): a config naming 10^30 layers
is refused before any loop runs over them."""


def _check_sizes(cfg: dict[str, Any]) -> None:
    for name, bound in SIZE_BOUNDS.items():
        value = cfg.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigImportError(f"config field {name!r} must be a number, got {str(value)[:40]!r}")
        if not 0 <= value <= bound:
            raise ConfigImportError(f"config field {name!r} must be between 0 and {bound:,}, got {value:g}")


def _req(cfg: dict[str, Any], *names: str) -> Any:
    for name in names:
        if cfg.get(name) is not None:
            return cfg[name]
    raise ConfigImportError(f"config is missing required field {names[0]!r}")


def _opt(cfg: dict[str, Any], name: str, default: Any) -> Any:
    value = cfg.get(name)
    return default if value is None else value


class _Counter:
    """Accumulates parameter counts for one text model."""

    def __init__(self) -> None:
        self.total = 0
        self.routed = 0
        self.embedding = 0


def model_from_hf_config(
    config: dict | str | Path, key: str | None = None, name: str | None = None
) -> tuple[ModelSpec, list[str]]:
    """Build a ModelSpec from a Hugging Face config (dict, JSON text, or path to config.json).

    Returns the spec and a list of warnings (unknown fields that were ignored, parts not counted).
    Raises ConfigImportError naming the missing field when the config lacks what sizing needs.
    """
    top = _load(config)
    warnings: list[str] = []
    cfg = top
    vision = False
    if isinstance(top.get("text_config"), dict):
        cfg = dict(top["text_config"])
        for field_name in ("tie_word_embeddings", "torch_dtype", "vocab_size"):
            if field_name in top and field_name not in cfg:
                cfg[field_name] = top[field_name]
        vision = True
    if isinstance(top.get("vision_config"), dict):
        vision = True
    if vision:
        warnings.append(
            "vision tower present but not counted: params_vision left at 0 (set it from a source)"
        )
    _check_sizes(cfg)
    model_type = str(cfg.get("model_type") or top.get("model_type") or "")
    if model_type in ("kimi_vl",):
        model_type = "deepseek_v3"
    if not model_type:
        raise ConfigImportError("config is missing required field 'model_type'")

    if model_type in ("phi", "phi-msft"):
        spec_kwargs, counts = _phi2(cfg)
    elif model_type == "gpt_neox":
        spec_kwargs, counts = _gpt_neox(cfg)
    elif model_type in ("falcon", "RefinedWeb", "RefinedWebModel"):
        spec_kwargs, counts = _falcon(cfg)
    elif model_type in _MLA:
        spec_kwargs, counts = _mla(cfg, model_type)
    elif model_type == "gpt_oss":
        spec_kwargs, counts = _gpt_oss(cfg)
    elif model_type in _LLAMA_LIKE or model_type.startswith("llama"):
        spec_kwargs, counts = _llama_like(cfg, model_type, warnings)
    else:
        raise ConfigImportError(f"unsupported model_type {model_type!r}")

    for field_name in cfg:
        if field_name.startswith("_") or field_name in _HARMLESS:
            continue
        warnings.append(f"unused config field {field_name!r}")

    dtype = str(cfg.get("torch_dtype") or top.get("torch_dtype") or cfg.get("dtype") or "bfloat16")
    precision = _FP_NAMES.get(dtype, dtype)
    quant = top.get("quantization_config") or cfg.get("quantization_config")
    if isinstance(quant, dict):
        method = str(quant.get("quant_method", ""))
        if method == "mxfp4":
            precision = "mxfp4"
        elif method == "fp8":
            precision = "fp8"

    experts = spec_kwargs.get("moe_num_experts", 0)
    k_active = spec_kwargs.get("moe_experts_per_token", 0)
    active = counts.total - round(counts.routed * (1 - k_active / experts)) if experts else counts.total
    spec_key = key or str(top.get("_name_or_path") or model_type).lower().replace("/", "-").replace("_", "-")
    spec = ModelSpec(
        key=spec_key,
        name=name or spec_key,
        params_total=counts.total,
        params_active=active,
        params_embedding=counts.embedding,
        params_routed_experts=counts.routed,
        native_precision=precision,
        **spec_kwargs,
    )
    return spec, warnings


def _embeddings(cfg: dict[str, Any], model_type: str, v: int, d: int, counter: _Counter) -> bool:
    tied = bool(_opt(cfg, "tie_word_embeddings", model_type in _TIED_BY_DEFAULT))
    counter.embedding = v * d * (1 if tied else 2)
    counter.total += counter.embedding
    return tied


def _sliding(cfg: dict[str, Any], model_type: str, n_layers: int) -> tuple[int, int]:
    """Return (window tokens, number of layers that use it)."""
    window = cfg.get("sliding_window")
    if model_type in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe") and not cfg.get("use_sliding_window"):
        return 0, 0
    if model_type == "phi3":  # Phi-3 configs carry a window >= context; no serving stack applies it
        return 0, 0
    if not window:
        return 0, 0
    layer_types = cfg.get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        return int(window), sum(1 for t in layer_types if t == "sliding_attention")
    if model_type == "gemma2":
        return int(window), n_layers // 2 + n_layers % 2  # layers 0, 2, 4, ... are local
    if model_type in ("gemma3", "gemma3_text"):
        pattern = int(_opt(cfg, "sliding_window_pattern", 6))
        return int(window), n_layers - n_layers // pattern
    if model_type == "gpt_oss":
        return int(window), n_layers // 2
    return int(window), n_layers


def _llama_like(cfg: dict[str, Any], model_type: str, warnings: list[str]) -> tuple[dict, _Counter]:
    d = int(_req(cfg, "hidden_size"))
    n_layers = int(_req(cfg, "num_hidden_layers"))
    h = int(_req(cfg, "num_attention_heads"))
    kv = int(_opt(cfg, "num_key_value_heads", h))
    hd = int(_opt(cfg, "head_dim", d // h))
    v = int(_req(cfg, "vocab_size"))
    f = int(_req(cfg, "intermediate_size"))
    c = _Counter()
    tied = _embeddings(cfg, model_type, v, d, c)

    attn = d * h * hd + 2 * d * kv * hd + h * hd * d
    if model_type in _QKV_BIAS_TYPES or (model_type == "glm4" and cfg.get("attention_bias")):
        attn += h * hd + 2 * kv * hd
    elif cfg.get("attention_bias"):
        attn += h * hd + 2 * kv * hd + d
    if model_type in _QK_NORM_TYPES:
        attn += 2 * hd
    norms = 4 * d if model_type in _POST_NORM_TYPES else 2 * d

    experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 0)
    k_active = int(cfg.get("num_experts_per_tok") or 0)
    f_e = int(cfg.get("moe_intermediate_size") or (f if experts else 0))
    shared_f = int(cfg.get("shared_expert_intermediate_size") or 0)
    mlp_only = set(cfg.get("mlp_only_layers") or [])
    step = int(_opt(cfg, "decoder_sparse_step", 1))
    llama4 = model_type == "llama4_text"
    if llama4:
        step = int(_opt(cfg, "interleave_moe_layer_step", 1))
        shared_f = f
        dense_f = int(_opt(cfg, "intermediate_size_mlp", f))
    else:
        dense_f = f
    n_moe_layers = 0
    for layer in range(n_layers):
        c.total += attn + norms
        is_moe = experts > 0 and layer not in mlp_only and (layer + 1) % step == 0
        if is_moe:
            n_moe_layers += 1
            routed = experts * 3 * d * f_e
            c.routed += routed
            c.total += routed + d * experts
            if shared_f:
                c.total += 3 * d * shared_f
                if model_type == "qwen2_moe":
                    c.total += d  # shared_expert_gate: Linear(d, 1)
        else:
            c.total += 3 * d * dense_f
    c.total += d  # final norm
    window, window_layers = _sliding(cfg, model_type, n_layers)
    if model_type == "mistral" and cfg.get("sliding_window_size") and not window:
        window, window_layers = int(cfg["sliding_window_size"]), n_layers
    kwargs = {
        "family": model_type,
        "num_layers": n_layers,
        "hidden_size": d,
        "num_attention_heads": h,
        "num_kv_heads": kv,
        "head_dim": hd,
        "intermediate_size": f_e if experts else f,
        "vocab_size": v,
        "max_context_tokens": int(_req(cfg, "max_position_embeddings")),
        "attention": _attention_kind(h, kv),
        "sliding_window_tokens": window,
        "sliding_window_layers": window_layers,
        "moe_num_experts": experts,
        "moe_experts_per_token": k_active,
        "moe_intermediate_size": f_e if experts else 0,
        "moe_shared_experts": 1 if (experts and shared_f) else 0,
        "tied_embeddings": tied,
    }
    if experts and n_moe_layers != n_layers:
        warnings.append(f"{n_layers - n_moe_layers} of {n_layers} layers are dense (width {dense_f})")
    return kwargs, c


def _attention_kind(h: int, kv: int) -> str:
    if kv == h:
        return "mha"
    if kv == 1:
        return "mqa"
    return "gqa"


def _mla(cfg: dict[str, Any], model_type: str) -> tuple[dict, _Counter]:
    d = int(_req(cfg, "hidden_size"))
    n_layers = int(_req(cfg, "num_hidden_layers"))
    h = int(_req(cfg, "num_attention_heads"))
    v = int(_req(cfg, "vocab_size"))
    f = int(_req(cfg, "intermediate_size"))
    kv_lora = int(_req(cfg, "kv_lora_rank"))
    q_lora = cfg.get("q_lora_rank")
    nope = int(_req(cfg, "qk_nope_head_dim"))
    rope = int(_req(cfg, "qk_rope_head_dim"))
    v_hd = int(_req(cfg, "v_head_dim"))
    experts = int(_req(cfg, "n_routed_experts"))
    k_active = int(_req(cfg, "num_experts_per_tok"))
    f_e = int(_req(cfg, "moe_intermediate_size"))
    shared = int(_opt(cfg, "n_shared_experts", 0))
    first_dense = int(_opt(cfg, "first_k_dense_replace", 0))
    freq = int(_opt(cfg, "moe_layer_freq", 1))
    c = _Counter()
    tied = _embeddings(cfg, model_type, v, d, c)
    if q_lora:
        attn = d * int(q_lora) + int(q_lora) + int(q_lora) * h * (nope + rope)
    else:
        attn = d * h * (nope + rope)
    attn += d * (kv_lora + rope) + kv_lora + kv_lora * h * (nope + v_hd) + h * v_hd * d
    router_bias = experts if cfg.get("topk_method") == "noaux_tc" else 0
    for layer in range(n_layers):
        c.total += attn + 2 * d
        if layer >= first_dense and layer % freq == 0:
            routed = experts * 3 * d * f_e
            c.routed += routed
            c.total += routed + d * experts + router_bias + shared * 3 * d * f_e
        else:
            c.total += 3 * d * f
    c.total += d
    kwargs = {
        "family": model_type,
        "num_layers": n_layers,
        "hidden_size": d,
        "num_attention_heads": h,
        "num_kv_heads": int(_opt(cfg, "num_key_value_heads", h)),
        "head_dim": nope + rope,
        "intermediate_size": f_e,
        "vocab_size": v,
        "max_context_tokens": int(_req(cfg, "max_position_embeddings")),
        "attention": "mla",
        "kv_lora_rank": kv_lora,
        "qk_rope_head_dim": rope,
        "moe_num_experts": experts,
        "moe_experts_per_token": k_active,
        "moe_intermediate_size": f_e,
        "moe_shared_experts": shared,
        "tied_embeddings": tied,
    }
    return kwargs, c


def _gpt_oss(cfg: dict[str, Any]) -> tuple[dict, _Counter]:
    d = int(_req(cfg, "hidden_size"))
    n_layers = int(_req(cfg, "num_hidden_layers"))
    h = int(_req(cfg, "num_attention_heads"))
    kv = int(_req(cfg, "num_key_value_heads"))
    hd = int(_opt(cfg, "head_dim", d // h))
    v = int(_req(cfg, "vocab_size"))
    f = int(_req(cfg, "intermediate_size"))
    experts = int(cfg.get("num_local_experts") or _req(cfg, "num_experts"))
    k_active = int(cfg.get("num_experts_per_tok") or _req(cfg, "experts_per_token"))
    c = _Counter()
    tied = _embeddings(cfg, "gpt_oss", v, d, c)
    attn = d * h * hd + 2 * d * kv * hd + h * hd * d + (h * hd + 2 * kv * hd + d) + h  # biases + sinks
    expert = d * 2 * f + 2 * f + f * d + d
    for _ in range(n_layers):
        c.routed += experts * expert
        c.total += attn + 2 * d + experts * expert + d * experts + experts
    c.total += d
    window, window_layers = _sliding(cfg, "gpt_oss", n_layers)
    kwargs = {
        "family": "gpt-oss",
        "num_layers": n_layers,
        "hidden_size": d,
        "num_attention_heads": h,
        "num_kv_heads": kv,
        "head_dim": hd,
        "intermediate_size": f,
        "vocab_size": v,
        "max_context_tokens": int(_req(cfg, "max_position_embeddings")),
        "attention": _attention_kind(h, kv),
        "sliding_window_tokens": window,
        "sliding_window_layers": window_layers,
        "moe_num_experts": experts,
        "moe_experts_per_token": k_active,
        "moe_intermediate_size": f,
        "tied_embeddings": tied,
    }
    return kwargs, c


def _phi2(cfg: dict[str, Any]) -> tuple[dict, _Counter]:
    d = int(_req(cfg, "hidden_size", "n_embd"))
    n_layers = int(_req(cfg, "num_hidden_layers", "n_layer"))
    h = int(_req(cfg, "num_attention_heads", "n_head"))
    kv = int(cfg.get("num_key_value_heads") or cfg.get("n_head_kv") or h)
    hd = d // h
    v = int(_req(cfg, "vocab_size"))
    f = int(cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * d)
    c = _Counter()
    tied = bool(_opt(cfg, "tie_word_embeddings", False))
    c.embedding = v * d * (1 if tied else 2)
    c.total += c.embedding + (0 if tied else v)  # the head has a bias
    per_layer = (d * h * hd + h * hd) + 2 * (d * kv * hd + kv * hd) + (h * hd * d + d)
    per_layer += d * f + f + f * d + d + 2 * d  # fc1, fc2, one shared LayerNorm
    c.total += n_layers * per_layer + 2 * d
    kwargs = {
        "family": "phi",
        "num_layers": n_layers,
        "hidden_size": d,
        "num_attention_heads": h,
        "num_kv_heads": kv,
        "head_dim": hd,
        "intermediate_size": f,
        "vocab_size": v,
        "max_context_tokens": int(_req(cfg, "max_position_embeddings", "n_positions")),
        "attention": _attention_kind(h, kv),
        "tied_embeddings": tied,
    }
    return kwargs, c


def _gpt_neox(cfg: dict[str, Any]) -> tuple[dict, _Counter]:
    d = int(_req(cfg, "hidden_size"))
    n_layers = int(_req(cfg, "num_hidden_layers"))
    h = int(_req(cfg, "num_attention_heads"))
    v = int(_req(cfg, "vocab_size"))
    f = int(_opt(cfg, "intermediate_size", 4 * d))
    c = _Counter()
    tied = bool(_opt(cfg, "tie_word_embeddings", False))
    c.embedding = v * d * (1 if tied else 2)
    c.total += c.embedding
    per_layer = (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f + f * d + d) + 4 * d
    c.total += n_layers * per_layer + 2 * d
    kwargs = {
        "family": "gpt-neox",
        "num_layers": n_layers,
        "hidden_size": d,
        "num_attention_heads": h,
        "num_kv_heads": h,
        "head_dim": d // h,
        "intermediate_size": f,
        "vocab_size": v,
        "max_context_tokens": int(_req(cfg, "max_position_embeddings")),
        "attention": "mha",
        "tied_embeddings": tied,
    }
    return kwargs, c


def _falcon(cfg: dict[str, Any]) -> tuple[dict, _Counter]:
    d = int(_req(cfg, "hidden_size"))
    n_layers = int(_req(cfg, "num_hidden_layers"))
    h = int(_req(cfg, "num_attention_heads"))
    v = int(_req(cfg, "vocab_size"))
    hd = d // h
    new_arch = bool(cfg.get("new_decoder_architecture"))
    kv = int(_req(cfg, "num_kv_heads")) if new_arch else 1 if cfg.get("multi_query", True) else h
    f = int(_opt(cfg, "ffn_hidden_size", 4 * d))
    c = _Counter()
    tied = _embeddings(cfg, "falcon", v, d, c)
    per_layer = d * (h * hd + 2 * kv * hd) + h * hd * d + 2 * d * f + (4 * d if new_arch else 2 * d)
    c.total += n_layers * per_layer + 2 * d
    kwargs = {
        "family": "falcon",
        "num_layers": n_layers,
        "hidden_size": d,
        "num_attention_heads": h,
        "num_kv_heads": kv,
        "head_dim": hd,
        "intermediate_size": f,
        "vocab_size": v,
        "max_context_tokens": int(_opt(cfg, "max_position_embeddings", 2048)),
        "attention": _attention_kind(h, kv),
        "tied_embeddings": tied,
    }
    return kwargs, c
