"""The schema documents every error response an operation can give, in the one error shape, so clients and
the schema-driven fuzzer (manage.py fuzz_api) can rely on it."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _codes(schema: dict, path: str, method: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"])


def test_error_component_is_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]

    assert set(error["properties"]) == {"code", "message", "detail"}
    assert set(error["required"]) == {"code", "message", "detail"}


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/api/v1/estimate/", "post", {"200", "400", "401", "403", "413", "415", "429", "503"}),
        ("/api/v1/capacity/", "post", {"200", "400", "401", "403", "413", "415", "429", "503"}),
        ("/api/v1/plans/", "get", {"200", "400", "401", "403", "404", "503"}),
        ("/api/v1/plans/{id}/", "get", {"200", "401", "403", "404", "503"}),
        ("/api/v1/plans/{id}/", "patch", {"200", "400", "401", "403", "404", "413", "415", "503"}),
        ("/api/v1/plans/{id}/", "delete", {"204", "401", "403", "404", "503"}),
        ("/api/v1/hardware/{key}/duplicate/", "post", {"201", "401", "403", "404", "503"}),
        ("/api/v1/models/{key}/duplicate/", "post", {"201", "401", "403", "404", "503"}),
    ],
)
def test_operations_document_their_error_codes(schema, path, method, expected):
    assert _codes(schema, path, method) == expected


def test_every_error_response_uses_the_error_shape(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == ERROR_REF, f"{method.upper()} {path} {code}"


def test_duplicate_is_documented_as_the_new_row(schema):
    for path, component in (
        ("/api/v1/hardware/{key}/duplicate/", "Hardware"),
        ("/api/v1/models/{key}/duplicate/", "LLMModel"),
    ):
        body = schema["paths"][path]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{component}"}
