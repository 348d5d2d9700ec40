"""Token authentication with a lock-out for guessing: an address that sends TOKEN_FAILURE_LIMIT wrong tokens
within TOKEN_FAILURE_WINDOW_S gets 429 for the rest of that window, right tokens included, like the login
lock-out for passwords (planner.security; the address follows the same trusted-proxy rule). Counted in the
cache, per address; a right token does not reset the count (a guesser holding one token could otherwise
keep trying others)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from planner.security import client_ip


def _key(request) -> str:
    window = int(time.time() // settings.TOKEN_FAILURE_WINDOW_S)
    return f"token-failures:{client_ip(request)}:{window}"


class LockingTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        if not self._offers_token(request):
            return None
        key = _key(request)
        if (cache.get(key) or 0) >= settings.TOKEN_FAILURE_LIMIT:
            raise exceptions.Throttled(
                wait=settings.TOKEN_FAILURE_WINDOW_S, detail="Too many wrong API tokens from this address."
            )
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            if not cache.add(key, 1, timeout=settings.TOKEN_FAILURE_WINDOW_S):
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.add(key, 1, timeout=settings.TOKEN_FAILURE_WINDOW_S)
            raise

    def _offers_token(self, request) -> bool:
        return request.META.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0].lower() == self.keyword.lower()
