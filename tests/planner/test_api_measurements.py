"""Measurement sets through the API: upload (multipart), the errors that name the line and field, partial
files stored only when confirmed, versions per name, permissions by team role, and the body limit."""

from __future__ import annotations

import io

import pytest
from django.test.utils import override_settings
from rest_framework.test import APIClient

from planner.models import Measurement, MeasurementSet
from planner.services.measurements import Upload, measurement_set_upload
from tests.planner.conftest import HEADER
from tests.planner.test_team_races import _race

URL = "/api/v1/measurement-sets/"
ROWS = [
    "llama-3.1-8b,h100-sxm-80gb,1,fp8,vllm,1,1,1000,200,,,4,online_rate,ttft_ms,mean,31.5,ms,,0.11.0,,stated",
    "llama-3.1-8b,h100-sxm-80gb,1,fp8,vllm,1,1,1000,200,,,4,online_rate,tpot_ms,mean,7.9,ms,,0.11.0,,stated",
    "llama-3.1-8b,h100-sxm-80gb,1,fp8,vllm,1,1,1000,200,,,8,online_rate,tpot_ms,mean,8.6,ms,,0.11.0,,stated",
]


def csv_file(*rows: str, name: str = "bench.csv") -> io.BytesIO:
    f = io.BytesIO(("\n".join([HEADER, *rows]) + "\n").encode())
    f.name = name
    return f


def upload(client: APIClient, team, file, **fields):
    return client.post(
        URL, {"team": team.pk, "name": "h100 vllm", "file": file, **fields}, format="multipart"
    )


def test_an_editor_uploads_a_csv_and_reads_its_rows(catalog, team, client_for, editor):
    response = upload(client_for(editor), team, csv_file(*ROWS))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["row_count"] == 3 and body["version"] == 1 and body["kind"] == "performance"
    assert body["file_format"] == "csv" and body["uploaded_by"] == "editor" and body["rejected"] == []
    assert response["Location"] == body["url"]
    assert type(response.headers["Location"]) is str  # wsgiref refuses a str subclass (a 500 before)
    rows = client_for(editor).get(body["rows_url"]).json()["results"]
    assert [(r["line"], r["metric"], r["value"]) for r in rows] == [
        (2, "ttft_ms", 31.5),
        (3, "tpot_ms", 7.9),
        (4, "tpot_ms", 8.6),
    ]
    assert rows[0]["fields"]["source"] == "bench.csv"  # a blank source is the file's name
    # Uploading the same name again adds a version; the first stays.
    again = upload(client_for(editor), team, csv_file(*ROWS[:1]))
    assert again.json()["version"] == 2
    assert MeasurementSet.objects.filter(team=team, name="h100 vllm").count() == 2


def test_what_the_file_does_not_state_comes_from_the_upload_or_is_asked_for(catalog, team, api):
    row = "llama-3.1-8b,,1,fp8,vllm,1,1,1000,200,,,4,online_rate,ttft_ms,mean,31.5,ms,,0.11.0,,stated"
    response = upload(api, team, csv_file(row))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_file" and "hardware" in body["detail"]
    assert "give it with the upload" in body["message"]
    response = upload(api, team, csv_file(row), hardware="h100-sxm-80gb")
    assert response.status_code == 201, response.json()
    assert response.json()["context"] == {"hardware": "h100-sxm-80gb"}
    stored = Measurement.objects.get(measurement_set_id=response.json()["id"])
    assert stored.hardware == "h100-sxm-80gb" and stored.fields["hardware"] == "h100-sxm-80gb"


@pytest.mark.parametrize(
    ("content", "field", "line"),
    [
        ("", "file", None),  # an empty file
        ("model,hardware,value\nllama-3.1-8b,h100-sxm-80gb,3\n", "metric", 1),  # wrong columns
        (HEADER + "\n" + ROWS[0].replace("31.5", "fast"), "value", 2),  # a non-numeric value, the only row
        ("\x89PNG\r\n\x1a\n not a benchmark", "format", None),  # not a format it reads
    ],
)
def test_a_bad_file_is_a_400_naming_the_line_and_field(catalog, team, api, content, field, line):
    f = io.BytesIO(content.encode("latin-1"))
    f.name = "bad.csv"
    response = upload(api, team, f)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body["detail"], body
    if line:
        assert body["detail"][field][0].startswith(f"line {line}: ")
    assert not MeasurementSet.objects.exists()


def test_a_partly_bad_file_lists_each_bad_row_and_stores_the_good_ones_only_when_confirmed(
    catalog, team, api
):
    bad_value = ROWS[1].replace("7.9", "n/a")
    unknown_model = ROWS[2].replace("llama-3.1-8b", "llama-99b")
    f = csv_file(ROWS[0], bad_value, unknown_model)
    response = upload(api, team, f)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "partial_file"
    assert body["detail"]["valid_rows"] == 1 and body["detail"]["invalid_rows"] == 2
    assert [(r["line"], r["field"]) for r in body["detail"]["rows"]] == [(3, "value"), (4, "model")]
    assert "closest" in body["detail"]["rows"][1]["message"]
    assert not MeasurementSet.objects.exists()  # nothing half-written
    response = upload(api, team, csv_file(ROWS[0], bad_value, unknown_model), confirm_partial="true")
    assert response.status_code == 201
    assert response.json()["row_count"] == 1
    assert [r["line"] for r in response.json()["rejected"]] == [3, 4]
    assert Measurement.objects.count() == 1


def test_permissions_follow_the_team_roles(catalog, team, other_team, client_for, users):
    stored = measurement_set_upload(
        user=users["editor"],
        team=team,
        upload=Upload(name="a", file_name="a.csv", data=csv_file(*ROWS).read()),
    )
    detail = f"{URL}{stored.pk}/"
    assert client_for(None).get(URL).status_code == 401
    # Another team's set is a 404 for reads, rows and deletes; it never shows in a list.
    outsider = client_for(users["outsider"])
    assert outsider.get(detail).status_code == 404
    assert outsider.get(f"{detail}rows/").status_code == 404
    assert outsider.delete(detail).status_code == 404
    assert outsider.get(URL).json()["count"] == 0
    assert upload(outsider, team, csv_file(*ROWS)).status_code == 400  # not a team they can name
    # Viewers read but do not upload or delete; editors upload; admins delete.
    viewer = client_for(users["viewer"])
    assert viewer.get(detail).status_code == 200 and viewer.get(URL).json()["count"] == 1
    response = upload(viewer, team, csv_file(*ROWS))
    assert response.status_code == 403 and "editor" in response.json()["message"]
    assert viewer.delete(detail).status_code == 403
    assert client_for(users["editor"]).delete(detail).status_code == 403
    assert client_for(users["team_admin"]).delete(detail).status_code == 204
    assert not Measurement.objects.exists()


@override_settings(MEASUREMENT_UPLOAD_MAX_BYTES=4096)
def test_a_file_over_the_upload_limit_is_refused_before_it_is_read(catalog, team, api):
    big = csv_file(*(ROWS * 2000))  # about 200 kB; the same refusal holds for a 50 MB file at 20 MiB
    response = upload(api, team, big)
    assert response.status_code == 413
    assert response.json()["detail"]["max_bytes"] > 4096
    assert not MeasurementSet.objects.exists()


def test_the_service_refuses_a_file_over_the_limit_whatever_calls_it(catalog, team, editor):
    from calculator.measurements import MeasurementFileError

    with (
        override_settings(MEASUREMENT_UPLOAD_MAX_BYTES=1024),
        pytest.raises(MeasurementFileError, match="MiB"),
    ):
        measurement_set_upload(
            user=editor, team=team, upload=Upload(name="x", file_name="x.csv", data=b"x" * 2048)
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_one_name_take_distinct_versions(transactional_catalog, team, editor):
    """Six uploads of one name at the same moment: each stored one has its own version, 1, 2, 3, ... (a
    writer the database refuses, SQLite's lock, stores nothing: no gap, no duplicate, no half-written set)."""
    data = csv_file(*ROWS).read()

    def send() -> None:
        measurement_set_upload(
            user=editor, team=team, upload=Upload(name="race", file_name="r.csv", data=data)
        )

    outcomes = _race(*([send] * 6))
    stored = sorted(MeasurementSet.objects.filter(name="race").values_list("version", flat=True))
    assert stored == list(range(1, 7 - sum(o is not None for o in outcomes)))
    assert Measurement.objects.count() == 3 * len(stored)
    print(f"RACE measurement uploads: 6 at once, {len(stored)} stored, versions {stored}")


def test_a_vllm_bench_serve_result_uploads_with_what_it_does_not_state(catalog, team, api):
    from pathlib import Path

    path = (
        Path(__file__).parents[1]
        / "calculator/fixtures/measurements/vllm_bench_serving_rate4_llama31_8b_h100.json"
    )
    f = io.BytesIO(path.read_bytes())
    f.name = path.name
    response = upload(api, team, f)
    assert response.status_code == 400 and response.json()["code"] == "invalid_file"
    f.seek(0)
    context = {"hardware": "h100-sxm-80gb", "precision": "bf16", "framework_version": "0.11.0", "tp": 1}
    response = upload(api, team, f, **context)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["file_format"] == "vllm-bench" and body["kind"] == "performance" and body["row_count"] >= 8
    rows = api.get(body["rows_url"]).json()["results"]
    metrics = {r["metric"] for r in rows}
    assert {"ttft_ms", "tpot_ms", "output_tokens_per_s_total"} <= metrics
    assert all(r["model"] == "llama-3.1-8b" and r["hardware"] == "h100-sxm-80gb" for r in rows)
