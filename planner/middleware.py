"""Refuse oversized request bodies with 413 before anything reads them.

Django's DATA_UPLOAD_MAX_MEMORY_SIZE is only checked when request.body or POST is read, and it answers with
a 400; DRF's parsers read the stream directly and never check it. A declared Content-Length is enough to
decide: WSGI servers do not pass more than Content-Length bytes to the application.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from planner.api.errors import error_response

UPLOAD_FORM_OVERHEAD_BYTES = 64 * 1024
"""Multipart boundaries and the form's other fields around an uploaded file."""


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.method == "POST" and request.path.startswith(settings.UPLOAD_PATH_PREFIXES):
            limit = settings.MEASUREMENT_UPLOAD_MAX_BYTES + UPLOAD_FORM_OVERHEAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "invalid", "Malformed Content-Length header.")
        if limit is not None and length > limit:
            return error_response(
                413, "request_too_large", detail={"max_bytes": limit, "content_length": length}
            )
        return self.get_response(request)
