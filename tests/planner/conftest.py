"""Fixtures for the API tests: a small catalog from the engine's CSVs (with the hosted-API prices of its
models), one team with a member of every role,
an outsider (in another team, with a plan of their own), a staff user, and API clients for each.

    team_admin (admin of `team`), editor (owner of `plan`), viewer -- members of `team`
    outsider -- admin of `other_team`, owner of `other_plan`
    staff -- is_staff, member of no team
"""

from __future__ import annotations

import functools
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from calculator.calibration import default_calibration
from calculator.catalog import default_catalog
from calculator.planning.breakeven import hosted_prices
from calculator.team_fit import fit_team
from planner import specs
from planner.models import (
    Hardware,
    HostedApiPrice,
    LLMModel,
    Membership,
    Role,
    Team,
    TeamCalibration,
)
from planner.services import calibrations, plans, teams
from planner.services.measurements import Upload, measurement_set_upload

CATALOG_MODELS = ("llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b")
CATALOG_HARDWARE = ("h100-sxm-80gb", "a100-sxm-80gb", "l40s-48gb")
ESTIMATE_INPUTS = {"model": "llama-3.1-8b", "hardware": "h100-sxm-80gb", "prompt_tokens": 1024}
SMALL_COMPARISON = {
    "grid": {
        "models": ["llama-3.1-8b"],
        "hardware": ["h100-sxm-80gb"],
        "precisions": ["fp16"],
        "frameworks": ["vllm"],
    },
    "workload": {"prompt_tokens": 512, "output_tokens": 128},
}
"""A one-configuration comparison request."""


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    """Throttle counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def catalog(db) -> dict[str, list]:
    """A few real rows of the engine's catalog, loaded through planner.specs like seed_catalog does."""
    return load_catalog_rows()


@pytest.fixture
def transactional_catalog(transactional_db) -> dict[str, list]:
    """`catalog` for tests whose threads need committed rows."""
    return load_catalog_rows()


def load_catalog_rows() -> dict[str, list]:
    engine = default_catalog()
    models = [LLMModel.objects.create(**specs.model_row_values(engine.models[k])) for k in CATALOG_MODELS]
    hardware = [
        Hardware.objects.create(**specs.hardware_row_values(engine.hardware[k])) for k in CATALOG_HARDWARE
    ]
    model_ids = {row.key: row.pk for row in models}
    hosted = [
        HostedApiPrice.objects.create(**specs.hosted_price_row_values(price, model_ids))
        for price in hosted_prices()
        if price.model in model_ids
    ]
    return {"models": models, "hardware": hardware, "hosted_prices": hosted}


def _user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)


@pytest.fixture
def team_admin(db):
    return _user("team_admin")


@pytest.fixture
def editor(db):
    return _user("editor")


@pytest.fixture
def viewer(db):
    return _user("viewer")


@pytest.fixture
def outsider(db):
    return _user("outsider")


@pytest.fixture
def staff(db):
    return _user("staff", is_staff=True)


@pytest.fixture
def team(team_admin, editor, viewer) -> Team:
    team = teams.team_create(user=team_admin, name="Inference", slug="inference")
    Membership.objects.create(team=team, user=editor, role=Role.EDITOR)
    Membership.objects.create(team=team, user=viewer, role=Role.VIEWER)
    return team


@pytest.fixture
def other_team(outsider) -> Team:
    return teams.team_create(user=outsider, name="Other", slug="other")


@pytest.fixture
def plan(catalog, team, editor):
    return plans.plan_create(user=editor, team=team, name="Chat bot", inputs=ESTIMATE_INPUTS)


@pytest.fixture
def other_plan(catalog, other_team, outsider):
    return plans.plan_create(user=outsider, team=other_team, name="Theirs", inputs=ESTIMATE_INPUTS)


@pytest.fixture
def users(team_admin, editor, viewer, outsider, staff, team, other_team) -> dict:
    """Every actor by name; None is the anonymous caller."""
    return {
        "anonymous": None,
        "outsider": outsider,
        "viewer": viewer,
        "editor": editor,
        "team_admin": team_admin,
        "staff": staff,
    }


@pytest.fixture
def client_for():
    """client_for(user) -> APIClient logged in as user (None: anonymous)."""

    def make(user) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def api(client_for, editor) -> APIClient:
    """A client for the editor (the plan owner), the most common caller."""
    return client_for(editor)


# --- Measurement sets and team calibrations -----------------------------------------------------------------

HEADER = (
    "model,hardware,num_gpus,precision,framework,tp,pp,input_tokens,output_tokens,batch_size,concurrency,"
    "request_rate,scenario,metric,statistic,value,unit,source,framework_version,notes,lengths"
)
# A team whose H100 prefills faster than the shipped calibration says (Llama 3.1 8B fp8, 1,000-token prompts
# at 2 / 4 / 8 requests/s: TTFT 17.5-18.6 ms measured, about 27-28 ms shipped, as the vllm bench fixture's
# bf16 run shows too) and decodes as it says (TPOT 4.4-5.0 ms).
TEAM_ROWS = [
    f"llama-3.1-8b,h100-sxm-80gb,1,fp8,vllm,1,1,1000,200,,,{rate},online_rate,{metric},mean,{value},ms,,0.11.0,,stated"
    for rate, tpot, ttft in ((2, 4.4, 17.5), (4, 4.6, 17.9), (8, 5.0, 18.6))
    for metric, value in (("tpot_ms", tpot), ("ttft_ms", ttft))
]


@pytest.fixture
def measurement_set(catalog, team, editor):
    data = ("\n".join([HEADER, *TEAM_ROWS]) + "\n").encode()
    return measurement_set_upload(
        user=editor, team=team, upload=Upload(name="lab", file_name="lab.csv", data=data)
    )


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Fits the services would send to the broker (captured)."""
    messages: list[int] = []
    monkeypatch.setattr(calibrations, "send_fit", messages.append)
    return messages


@functools.cache
def _lab_fit(rows_json: str) -> tuple[dict, dict]:
    """The fit of the team rows, once per test run (the worker path itself is tested once, below)."""
    fit = fit_team(json.loads(rows_json), default_calibration(), name="lab fit", group_of=lambda r: r["_set"])
    return json.loads(fit.calibration.to_json()), fit.report


@pytest.fixture
def fitted(measurement_set, team, editor, sent) -> TeamCalibration:
    """A succeeded fit of the team's set, as the worker writes it."""
    job = calibrations.calibration_submit(
        user=editor, team=team, name="lab fit", measurement_sets=[measurement_set]
    )
    rows = [{**row, "_set": "lab"} for row in job.rows]
    calibration, report = _lab_fit(json.dumps(rows, sort_keys=True))
    TeamCalibration.objects.filter(pk=job.pk).update(
        status="succeeded", progress=1.0, calibration=calibration, report=report, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job
