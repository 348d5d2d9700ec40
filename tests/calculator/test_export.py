"""Deployment export: commands use only documented flags, the manifests parse and reproduce the plan."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from calculator.deployment import InputError, resolve_deployment
from calculator.estimate import estimate_deployment
from calculator.planning.export import export_deployment, hf_model_id
from calculator.planning.sizing import size_deployment
from calculator.planning.slo import resolve_slo, resolve_traffic

FLAGS = json.loads((Path(__file__).parent / "fixtures" / "export" / "framework_flags.json").read_text())


def _export(model="llama-3.1-8b", hardware="h100-sxm-80gb", *, rate=None, slo=None, **inputs):
    d = resolve_deployment(model, hardware, **inputs)
    est = estimate_deployment(d)
    sizing = None
    if rate is not None:
        sizing = size_deployment(d, resolve_slo(slo or {}), resolve_traffic(requests_per_s=rate))
    return d, est, export_deployment(d, est, sizing)


@pytest.fixture(scope="module")
def example_70b():
    return _export(
        "llama-3.1-70b",
        precision="fp8",
        framework="vllm",
        tensor_parallel=4,
        prompt_tokens=1000,
        output_tokens=200,
        rate=10.0,
        slo={"ttft_p99_ms": 1000},
    )


def _options(argv: list[str]) -> dict[str, str | None]:
    """Each flag of a command line and the value after it (None for a bare switch)."""
    options: dict[str, str | None] = {}
    for i, token in enumerate(argv):
        if token.startswith("-") and not token.lstrip("-").replace(".", "").isdigit():
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            options[token] = nxt if nxt is not None and not nxt.startswith("--") else None
    return options


CASES = [
    pytest.param("vllm", "fp8", 2, 1, id="vllm-fp8-tp2"),
    pytest.param("vllm", "int4-awq", 1, 1, id="vllm-awq"),
    pytest.param("vllm", "bf16", 2, 2, id="vllm-bf16-tp2-pp2"),
    pytest.param("sglang", "fp8", 2, 1, id="sglang-fp8"),
    pytest.param("sglang", "fp16", 1, 2, id="sglang-pp2"),
    pytest.param("tensorrt-llm", "fp8", 2, 1, id="trtllm-fp8"),
    pytest.param("tensorrt-llm", "bf16", 1, 2, id="trtllm-pp2"),
    pytest.param("llama.cpp", "q4_k_m", 1, 1, id="llamacpp-one-gpu"),
    pytest.param("llama.cpp", "q8_0", 2, 1, id="llamacpp-row-split"),
]


@pytest.mark.parametrize(("framework", "precision", "tp", "pp"), CASES)
def test_every_generated_flag_is_documented(framework, precision, tp, pp):
    _, _, export = _export(precision=precision, framework=framework, tensor_parallel=tp, pipeline_parallel=pp)
    argv = shlex.split(export.command)
    assert argv == export.argv
    documented = FLAGS[framework]
    assert argv[: len(documented["command"])] == documented["command"]
    options = _options(argv[len(documented["command"]) :])
    undocumented = sorted(set(options) - set(documented["flags"]))
    assert not undocumented, f"{framework} flags not in its documented list: {undocumented}"
    for flag, values in documented.get("values", {}).items():
        if flag in options:
            assert options[flag] in values, (flag, options[flag])


def test_the_70b_example_reproduces_the_plan(example_70b):
    _, est, export = example_70b
    options = _options(export.argv)
    assert export.argv[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct"]
    assert export.replicas == 1
    assert export.gpus_per_replica == 4 and export.gpus == 4
    assert options["--tensor-parallel-size"] == "4"
    assert options["--pipeline-parallel-size"] == "1"
    assert options["--max-model-len"] == str(est.memory.max_context_tokens)
    assert options["--max-num-seqs"] == str(est.memory.max_batch_size)
    assert options["--quantization"] == "fp8"
    assert options["--gpu-memory-utilization"] == "0.9"
    assert options["--kv-cache-dtype"] == "auto"


def test_the_kubernetes_manifest_parses_and_carries_the_plan(example_70b):
    export = example_70b[2]
    deployment, service = yaml.safe_load_all(export.kubernetes)
    assert deployment["kind"] == "Deployment" and service["kind"] == "Service"
    assert deployment["spec"]["replicas"] == 1
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 4
    assert container["command"] == export.argv
    assert "--max-model-len" in container["command"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8000}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["containerPort"]
    assert "&id" not in export.kubernetes  # no YAML anchors: plain manifests


def test_the_compose_snippet_parses_and_carries_the_plan(example_70b):
    _, _, export = example_70b
    compose = yaml.safe_load(export.compose)
    (service,) = compose["services"].values()
    assert service["command"] == export.argv
    assert service["deploy"]["replicas"] == 1
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["count"] == 4
    assert "http://localhost:8000/health" in service["healthcheck"]["test"]


def test_replicas_come_from_the_sizing_when_given():
    d, _, export = _export(
        "llama-3.1-8b", precision="fp8", framework="vllm", prompt_tokens=1000, output_tokens=200, rate=200.0
    )
    sizing = size_deployment(d, resolve_slo({}), resolve_traffic(requests_per_s=200.0))
    assert sizing.replicas > 1
    assert export.replicas == sizing.replicas
    assert yaml.safe_load_all(export.kubernetes).__next__()["spec"]["replicas"] == sizing.replicas
    compose = next(iter(yaml.safe_load(export.compose)["services"].values()))
    assert compose["deploy"]["replicas"] == sizing.replicas
    assert "ports" not in compose  # replicas cannot share one host port


def test_without_sizing_the_deployment_replicas_are_exported():
    _, _, export = _export(precision="fp8", framework="vllm", tensor_parallel=2, replicas=3)
    assert (export.replicas, export.gpus_per_replica, export.gpus) == (3, 2, 6)


def test_a_llama_cpp_export_has_gpu_layers_and_context():
    d, est, export = _export(precision="q4_k_m", framework="llama.cpp", tensor_parallel=2)
    options = _options(export.argv)
    assert export.argv[0] == "llama-server"
    assert options["-ngl"] == "999"
    assert int(options["-c"]) == export.context_tokens * export.max_sequences
    assert options["-np"] == str(export.max_sequences)
    assert options["--split-mode"] == "row"
    assert options["-m"].endswith("Q4_K_M.gguf")
    assert export.context_tokens >= d.prompt_tokens + d.output_tokens
    # Every slot's context together fits the KV pool the estimate found.
    assert int(options["-c"]) <= est.memory.kv_pool_tokens


def test_the_model_id_is_the_hugging_face_alias():
    d = resolve_deployment("llama-3.1-8b", "h100-sxm-80gb")
    assert hf_model_id(d) == "meta-llama/Llama-3.1-8B-Instruct"
    bare = d.replace(model=d.model.__class__(**{**d.model.__dict__, "aliases": ("llama31",)}))
    assert hf_model_id(bare) == "llama-3.1-8b"


def test_a_configuration_that_does_not_fit_is_refused():
    d = resolve_deployment("llama-3.1-405b", "h100-sxm-80gb", precision="fp16")
    est = estimate_deployment(d)
    with pytest.raises(InputError) as error:
        export_deployment(d, est, None)
    assert error.value.field == "deployment"
    assert "does_not_fit" in error.value.message and "cannot be exported" in error.value.message


def test_a_configuration_that_cannot_be_sized_is_refused():
    d = resolve_deployment("llama-3.1-70b", "h100-sxm-80gb", precision="fp8", tensor_parallel=4)
    est = estimate_deployment(d)
    sizing = size_deployment(d, resolve_slo({"ttft_p99_ms": 1}), resolve_traffic(requests_per_s=10))
    assert not sizing.feasible
    with pytest.raises(InputError) as error:
        export_deployment(d, est, sizing)
    assert error.value.field == "slo"
    assert sizing.reason in error.value.message


def test_a_framework_without_a_launch_command_is_refused():
    d = resolve_deployment("llama-3.1-8b", "h100-sxm-80gb", framework="hf-transformers")
    with pytest.raises(InputError) as error:
        export_deployment(d, estimate_deployment(d), None)
    assert error.value.field == "framework"


EXAMPLE_ARGS = [
    "export", "-m", "llama-3.1-70b", "-H", "h100-sxm-80gb", "-p", "fp8", "-f", "vllm", "--tp", "4",
    "--prompt-tokens", "1000", "--output-tokens", "200", "--requests-per-s", "10", "--ttft-p99-ms", "1000",
]  # fmt: skip


def test_cli_prints_the_command(capsys):
    from calculator.cli import main

    assert main(EXAMPLE_ARGS) == 0
    line = capsys.readouterr().out.strip()
    argv = shlex.split(line)
    assert argv[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct"]
    assert _options(argv)["--tensor-parallel-size"] == "4"


@pytest.mark.parametrize("fmt", ["k8s", "compose", "json"])
def test_cli_formats_parse(capsys, fmt):
    from calculator.cli import main

    assert main([*EXAMPLE_ARGS, "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        data = json.loads(out)
        assert (data["replicas"], data["gpus"]) == (1, 4)
    elif fmt == "k8s":
        deployment, _ = yaml.safe_load_all(out)
        assert deployment["spec"]["replicas"] == 1
    else:
        (service,) = yaml.safe_load(out)["services"].values()
        assert service["deploy"]["replicas"] == 1


def test_cli_refuses_a_configuration_that_does_not_fit(capsys):
    from calculator.cli import main

    code = main(["export", "-m", "llama-3.1-405b", "-H", "h100-sxm-80gb", "-p", "fp16"])
    assert code == 2
    assert "cannot be exported" in capsys.readouterr().out
