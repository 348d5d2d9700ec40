"""Request bodies within the bounds a planning request can have, refused with a 400 before any view runs:
JSON nested deeper than MAX_DEPTH (1,000 `[` used to overflow the parser's recursion into a 500), numbers that
are not finite (1e400 reads as infinity) or integers beyond what a double holds exactly (2^53: no field needs
more, and the database columns hold less), NUL characters (PostgreSQL text cannot store them) and unpaired
UTF-16 surrogates ("\ud800" decodes to a string no encoder can write back: the error message naming the value
was a 500)."""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32
MAX_INTEGER = 2**53


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ParseError(f"number out of range: {text[:40]}")
    return value


def _constant(name: str) -> Any:
    raise ParseError(f"{name} is not a JSON number")


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ParseError("NUL characters are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError("unpaired UTF-16 surrogates are not allowed") from None


def check_bounds(data: Any) -> None:
    """Walk the parsed body without recursion: depth, integer range, NUL characters and lone surrogates."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((item, depth + 1))
        elif isinstance(value, str):
            _check_text(value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise ParseError(f"integer out of range (at most {MAX_INTEGER:,} in magnitude)")


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            data = json.loads(text, parse_float=_finite, parse_constant=_constant)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        except (ValueError, UnicodeDecodeError) as error:
            raise ParseError(f"JSON parse error - {error}") from None
        check_bounds(data)
        return data
