"""Who is calling: the client address the login lock-out and the API throttles key on, and the lock-out's
settings in one place.

The address is the connection's (REMOTE_ADDR) unless PLANNER_TRUSTED_PROXIES says how many reverse proxies
in front of the service append to X-Forwarded-For; then it is the address the outermost trusted proxy saw
(the N-th from the right), as DRF's NUM_PROXIES reads it, so a client cannot pick its own address by sending
the header."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    proxies = int(getattr(settings, "REST_FRAMEWORK", {}).get("NUM_PROXIES") or 0)
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return remote
