from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from planner import health


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when database, broker and a worker are all up; 503 naming the failing parts otherwise."""
    checks = health.run_checks()
    failing = [name for name, check in checks.items() if not check.ok]
    body = {
        "status": "fail" if failing else "ok",
        "failing": failing,
        "checks": {name: check.as_dict() for name, check in checks.items()},
    }
    return JsonResponse(body, status=503 if failing else 200)
