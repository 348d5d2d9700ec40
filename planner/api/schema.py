"""OpenAPI generation: every operation documents the error responses it can give, in the one error shape.

drf-spectacular documents only the success response, so a client (or a schema-driven fuzzer) reading the
schema could not know that, say, a plan detail answers 404 or that the estimate answers 429. The codes are
derived from what the view does, so a new endpoint is documented correctly without annotations:

- 401 wherever an authentication class runs (a bad token is refused even on public endpoints);
- 403 wherever a permission other than AllowAny applies, and on unsafe methods (CSRF for session callers);
- 404 on paths with parameters and on paginated lists (a page past the end);
- 400 where there is a request body or a query parameter to get wrong;
- 413 (planner.middleware) and 415 where there is a request body;
- 429 wherever a throttle applies;
- 503 everywhere: every operation reads or writes the database, and a lost connection answers 503
  database_unavailable with Retry-After (planner.api.errors).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from planner.api.errors import _MESSAGES


class ErrorSerializer(serializers.Serializer):
    """{"code", "message", "detail"}: see planner.api.errors."""

    code = serializers.CharField(help_text="stable, machine-readable: " + ", ".join(_MESSAGES))
    message = serializers.CharField(help_text="for people")
    detail = serializers.JSONField(
        allow_null=True,
        help_text="on 400 field -> list of messages; on 429 {wait_s}; on 413 {max_bytes, content_length}",
    )


ERROR_DESCRIPTIONS = {
    400: "Invalid input (detail maps each field to its messages)",
    401: "Not authenticated, or invalid token",
    403: "Authenticated but not allowed (role too weak, not staff, CSRF)",
    404: "Not found, or not visible to the caller",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Throttled (detail.wait_s)",
    503: "Database unavailable; nothing was saved, repeat after Retry-After seconds",
}


class ErrorDocumentingAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = OpenApiResponse(ErrorSerializer)
        responses = operation["responses"]
        for code in sorted(self._error_codes(operation)):
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    OpenApiResponse(error.response, ERROR_DESCRIPTIONS[code]), str(code)
                )
        return operation

    def _error_codes(self, operation: dict) -> set[int]:
        view = self.view
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        codes: set[int] = {503}
        if getattr(view, "authentication_classes", ()):
            codes.add(401)
        public = all(issubclass(p, AllowAny) for p in getattr(view, "permission_classes", ()))
        if not public or self.method not in ("GET", "HEAD", "OPTIONS"):
            codes.add(403)
        if any(p.get("in") == "path" for p in parameters) or any(p.get("name") == "page" for p in parameters):
            codes.add(404)
        if has_body or any(p.get("in") == "query" for p in parameters):
            codes.add(400)
        if has_body:
            codes.update((413, 415))
        if getattr(view, "throttle_classes", ()):
            codes.add(429)
        return codes
