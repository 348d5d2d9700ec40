"""Shared by the real-worker comparison tests: a small catalog, a request, and helpers to submit a job
through the API and wait for the workers."""

from __future__ import annotations

from rest_framework.test import APIClient

from planner.models import ComparisonJob, ComparisonResultRow

# 3 models x 3 hardware x 3 precisions x 2 frameworks x 4 TP x 3 batch sizes = 648 configurations; with
# COMPARISON_CHUNK_CONFIGURATIONS = 100 that is 9 chunks (one model x one hardware each).
BODY = {
    "name": "Options",
    "grid": {
        "models": ["llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b"],
        "hardware": ["*"],
        "precisions": ["fp16", "fp8", "int4-awq"],
        "frameworks": ["vllm", "llama.cpp"],
        "tensor_parallel": [1, 2, 4, 8],
        "batch_sizes": [1, 16, "auto"],
    },
    "workload": {"prompt_tokens": 1024, "output_tokens": 256, "requests_per_hour": 2000},
    "constraints": {"max_tpot_ms": 80},
    "objective": "cost",
    "top_k": 10,
}
SIZE = 648
CHUNK_CONFIGURATIONS = 100
CHUNKS = 9
SLOW = {"PLANNER_COMPARISON_CHUNK_DELAY_S": "1.5"}
"""Worker environment that makes each chunk take 1.5 s, so a test can act while a job runs."""


def submit(user, team) -> int:
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/v1/comparisons/", {**BODY, "team": team.pk}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def detail(user, job_id: int) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    return client.get(f"/api/v1/comparisons/{job_id}/").json()


def finished(job_id: int) -> ComparisonJob | None:
    job = ComparisonJob.objects.get(pk=job_id)
    return job if job.status in ComparisonJob.TERMINAL else None


def row_values(job_id: int) -> list[tuple]:
    """Every stored row's fields except its id and job, sorted by key: equal lists = identical results."""
    fields = [f.name for f in ComparisonResultRow._meta.concrete_fields if f.name not in ("id", "job")]
    return list(ComparisonResultRow.objects.filter(job_id=job_id).order_by("key").values_list(*fields))
