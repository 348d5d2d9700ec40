"""One error shape for every API error: {"code": str, "message": str, "detail": object | null}.

`code` is stable and machine-readable, `message` is for people, `detail` carries field errors on 400
(field -> list of messages) or extra data (the wait in seconds on 429).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from calculator import InputError
from calculator.measurements import MeasurementFileError
from calculator.planning import ComparisonError
from planner.services.comparisons import ComparisonQuotaExceeded
from planner.services.measurements import PartialFile

logger = logging.getLogger(__name__)

_MESSAGES = {
    "invalid": "Invalid input.",
    "not_found": "Not found.",
    "not_authenticated": "Authentication credentials were not provided or are invalid.",
    "permission_denied": "You do not have permission to perform this action.",
    "throttled": "Too many requests.",
    "request_too_large": "Request body too large.",
    "server_error": "Internal server error.",
    "not_ready": "The comparison has not succeeded (yet).",
    "invalid_file": "The file cannot be read.",
    "partial_file": "Some rows of the file are invalid; nothing was stored.",
    "conflict": "The request conflicts with the object's state.",
    "database_unavailable": "The database is unavailable; nothing was saved. Try again shortly.",
}
MAX_LISTED_ROWS = 500
"""Invalid rows listed in a partial_file answer (the count says how many there are)."""
# Seconds a client is told to wait after a 503 database_unavailable.
DATABASE_RETRY_AFTER_S = 5


def error_body(code: str, message: str | None = None, detail: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message or _MESSAGES.get(code, code), "detail": detail}


def error_response(
    status_code: int, code: str, message: str | None = None, detail: Any = None
) -> JsonResponse:
    """The error shape for responses made outside DRF (middleware, Django's 404/500 handlers)."""
    return JsonResponse(error_body(code, message, detail), status=status_code)


def _django_validation_detail(error: DjangoValidationError) -> Any:
    if hasattr(error, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in error.message_dict.items()}
    return {"non_field_errors": list(error.messages)}


def _field_errors(detail: Any) -> Any:
    """DRF's ValidationError detail (ErrorDetail strings, nested) as plain JSON; a bare list becomes
    non_field_errors so detail on a 400 is always an object."""
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    return {"non_field_errors": [str(detail)]}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return str(value)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: engine and Django validation errors are 400s too; all share one shape."""
    if isinstance(exc, ComparisonError):
        # detail names the offending fields and values, e.g. {"models": ["llama-99b"]} or
        # {"size": 7532280, "max_configurations": 5000000}.
        return Response(error_body("invalid", str(exc), exc.detail), status=400)
    if isinstance(exc, ComparisonQuotaExceeded):
        return Response(error_body("quota_exceeded", str(exc)), status=429)
    if isinstance(exc, MeasurementFileError):
        where = f"line {exc.line}: " if exc.line else ""
        return Response(
            error_body("invalid_file", str(exc), {exc.field or "file": [where + exc.message]}), status=400
        )
    if isinstance(exc, PartialFile):
        message = (
            f"{len(exc.errors)} rows are invalid (listed in detail.rows); send confirm_partial=true to store "
            f"the {exc.good} valid rows without them."
        )
        detail = {
            "rows": [e.as_dict() for e in exc.errors[:MAX_LISTED_ROWS]],
            "invalid_rows": len(exc.errors),
            "valid_rows": exc.good,
        }
        return Response(error_body("partial_file", message, detail), status=400)
    if isinstance(exc, InputError):
        # Every invalid field at once (calculator.deployment.InputErrors), each with its reason.
        detail = {field: [message] for field, message in exc.errors.items()}
        return Response(error_body("invalid", detail=detail), status=400)
    if isinstance(exc, DjangoValidationError):
        return Response(error_body("invalid", detail=_django_validation_detail(exc)), status=400)
    if isinstance(exc, OperationalError | InterfaceError):
        # A dropped connection or a database that cannot take the write (restart, failover, SQLite locked
        # past its busy timeout) is temporary and no fault of the request. Every write is one transaction,
        # so nothing was saved: 503 says so and that the same request may be repeated.
        logger.error("database unavailable: %s: %s", type(exc).__name__, exc, exc_info=exc)
        response = Response(error_body("database_unavailable"), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        # Also an object deleted by a concurrent request between the view's read and its write: it answers
        # 404 like one that never existed, never a 500.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handler answers (config.urls.handler500)
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", detail=_field_errors(exc.detail))
    elif isinstance(exc, exceptions.Throttled):
        body = error_body("throttled", str(exc.detail), {"wait_s": exc.wait})
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = code if isinstance(code, str) else "error"
        if response.status_code == status.HTTP_401_UNAUTHORIZED:
            code = "not_authenticated"
        detail = getattr(exc, "detail", None)
        body = error_body(code, str(detail) if isinstance(detail, str) else None)
    response.data = body
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(404, "not_found")


def server_error(request: HttpRequest) -> JsonResponse:
    return error_response(500, "server_error")
