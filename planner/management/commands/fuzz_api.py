"""Schema-driven fuzzing of the RUNNING service with schemathesis (a dev dependency, requirements-dev.txt).

Starts gunicorn + a Celery worker on the configured database and broker (planner.management.live_stack),
loads /api/v1/schema/ from it and sends generated requests for every operation in the schema, as an editor
(token) and anonymously, with valid ("positive") and invalid ("negative") data, once with generated path
parameters and once with the id of a real object the editor can see (found by listing the parent
collection), so new endpoints are fuzzed as soon as they are in the schema. Every response is checked:
no 5xx, status code documented, body matches the documented schema, content type documented.

Then a hostile pass that no schema generator thinks of (`HOSTILE_VALUES`): each top-level field of every
request body, in turn, set to a raw JSON text that breaks naive code (1,000-deep nesting, 1e400, NaN, 10^30,
NUL bytes, a lone surrogate, 200 KB strings, wrong types), plus malformed whole bodies and hostile query
strings, as the editor and anonymously. Each answer must be below 500 and in the one error shape (JSON with
code, message and detail) when it is a 4xx.

Generation is seeded (--seed) and bounded in count (--max-examples per operation, caller, mode and
parameter set) and in time (--budget-s). The last line is parseable:

    FUZZ requests=1234 server_errors=0 check_failures=0 operations=31 seed=20260101 hostile=2100

Exits non-zero on any 5xx or check failure, or when fewer than --min-requests requests were sent.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from planner.management.live_stack import Actors, ensure_actors, live_stack

# DEBUG off as in production (Django's own 404 page is then the API's JSON one, not a debug page).
# Throttles stay on (their 429 is documented) but high enough that fuzzing reaches the validators.
FUZZ_ENV = {
    "DEBUG": "false",
    "PLANNER_ESTIMATE_ANON_RATE": "100000/min",
    "PLANNER_ESTIMATE_USER_RATE": "100000/min",
    "PLANNER_TOKEN_FAILURE_LIMIT": "100000",
}


HOSTILE_VALUES: tuple[str, ...] = (
    "[" * 1000 + "]" * 1000,
    '{"a":' * 600 + "1" + "}" * 600,
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "1" + "0" * 30,
    "-" + "9" * 25,
    "9007199254740993",
    "-1",
    "0",
    "0.5",
    '"x\\u0000y"',
    '"\\ud800"',
    '"' + "a" * 200_000 + '"',
    '"*"',
    '["*", "x\\u0000y"]',
    "[" + ",".join(["1e400"] * 50) + "]",
    '{"__proto__": {"polluted": true}}',
    "[]",
    "{}",
    "null",
    "true",
    '""',
)
"""Raw JSON texts put into each request-body field in turn (they are sent as written: 1e400 and NaN are not
what a JSON encoder would produce)."""
HOSTILE_BODIES: tuple[str, ...] = ("", "{", "[" * 5000, "null", "[1, 2]", '"text"', "\x00", "{}" * 1000)
HOSTILE_QUERIES: tuple[str, ...] = (
    "page=1e400",
    "page=-1",
    "page=99999999999999999999",
    "page_size=0",
    "ordering=%00",
    "team=1e400",
    "search=" + "a" * 5000,  # within gunicorn's request line (config/gunicorn.py): the application answers
    "format=xml",
)


@dataclass
class Tally:
    requests: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    server_errors: int = 0
    check_failures: int = 0
    # (operation, check title) -> (caller, mode, message, curl) of the first occurrence
    distinct: dict[tuple[str, str], tuple[str, str, str, str]] = field(default_factory=dict)
    generation_errors: dict[str, str] = field(default_factory=dict)
    hostile: int = 0


class Command(BaseCommand):
    help = "Fuzz every endpoint of a running copy of the service from its OpenAPI schema (schemathesis)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=20260101)
        parser.add_argument(
            "--max-examples",
            type=int,
            default=6,
            help="generated requests per operation, caller, mode (positive/negative) and parameter set",
        )
        parser.add_argument("--budget-s", type=float, default=150.0, help="stop generating after this")
        parser.add_argument("--min-requests", type=int, default=1000)
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, seed, max_examples, budget_s, min_requests, web_workers, **options):
        try:
            import schemathesis  # noqa: F401 - dev dependency, checked before starting anything
        except ImportError:
            raise CommandError("schemathesis is not installed: pip install -r requirements-dev.txt") from None
        actors = ensure_actors()
        with live_stack(web_workers=web_workers, extra_env=FUZZ_ENV, label="fuzz") as url:
            tally, operations = self._fuzz(url, actors, seed, max_examples, budget_s)
            self._hostile(url, actors, tally)
        self._report(tally)
        self.stdout.write(
            f"FUZZ requests={tally.requests} server_errors={tally.server_errors} "
            f"check_failures={tally.check_failures} operations={operations} seed={seed} "
            f"hostile={tally.hostile}"
        )
        problems = []
        if tally.server_errors or tally.check_failures:
            problems.append(f"{tally.server_errors} 5xx, {tally.check_failures} check failures")
        if tally.requests < min_requests:
            problems.append(f"only {tally.requests} requests sent (need {min_requests})")
        if problems:
            raise CommandError("fuzzing failed: " + "; ".join(problems))

    def _fuzz(self, url: str, actors: Actors, seed: int, max_examples: int, budget_s: float):
        import requests
        import schemathesis
        from schemathesis.checks import not_a_server_error
        from schemathesis.specs.openapi.checks import (
            content_type_conformance,
            response_schema_conformance,
            status_code_conformance,
        )

        checks = [
            not_a_server_error,
            status_code_conformance,
            response_schema_conformance,
            content_type_conformance,
        ]
        schema = schemathesis.openapi.from_url(f"{url}/api/v1/schema/?format=json", timeout=30)
        session = requests.Session()
        editor = {"Authorization": f"Token {actors.editor_token}"}
        callers = (("editor", editor), ("anonymous", {}))
        modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
        tally = Tally()
        deadline = time.monotonic() + budget_s
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            known = self._known_path_parameters(session, url, editor, operation.path, actors)
            parameter_sets = [None] + ([known] if known else [])
            # With the path fixed, a negative case needs something else to break: a query or a body.
            negatable_beyond_path = bool(len(operation.query) or len(operation.body))
            for caller, headers in callers:
                for mode in modes:
                    for path_parameters in parameter_sets:
                        if path_parameters and mode.is_negative and not negatable_beyond_path:
                            continue
                        self._run(
                            operation=operation,
                            strategy_kwargs={"generation_mode": mode, "path_parameters": path_parameters},
                            label=(caller, mode.value),
                            url=url,
                            session=session,
                            headers=headers,
                            checks=checks,
                            tally=tally,
                            seed=seed,
                            max_examples=max_examples,
                            deadline=deadline,
                        )
        return tally, len(operations)

    def _hostile(self, url: str, actors: Actors, tally: Tally) -> None:
        """The hostile pass (module docstring): raw texts no schema generator produces."""
        import requests

        session = requests.Session()
        editor = {"Authorization": f"Token {actors.editor_token}"}
        spec = session.get(f"{url}/api/v1/schema/?format=json", timeout=30).json()
        schemas = spec.get("components", {}).get("schemas", {})
        for path, item in spec["paths"].items():
            known = self._known_path_parameters(session, url, editor, path, actors)
            concrete = path
            for name, value in (known or {}).items():
                concrete = concrete.replace("{" + name + "}", str(value))
            if "{" in concrete:
                continue  # no object to aim at
            for method, operation in item.items():
                label = f"{method.upper()} {path}"
                if method == "get":
                    for query in HOSTILE_QUERIES:
                        self._send(session, "get", f"{url}{concrete}?{query}", None, editor, label, tally)
                    continue
                if method == "delete":
                    continue  # nothing to send, and it would remove the objects the other cases aim at
                content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                fields = list(_properties(content.get("schema", {}), schemas)) or ["value"]
                bodies = [f'{{"{name}": {value}}}' for name in fields for value in HOSTILE_VALUES]
                bodies += list(HOSTILE_BODIES)
                for body in bodies:
                    self._send(session, method, f"{url}{concrete}", body, editor, label, tally)
                for body in HOSTILE_BODIES[:3]:
                    self._send(session, method, f"{url}{concrete}", body, {}, label, tally)

    @staticmethod
    def _send(session, method: str, target: str, body: str | None, headers, label: str, tally: Tally) -> None:
        headers = {**headers, "Content-Type": "application/json"}
        data = None if body is None else body.encode("utf-8", "surrogatepass")
        response = session.request(method, target, data=data, headers=headers, timeout=60)
        tally.requests += 1
        tally.hostile += 1
        tally.statuses[response.status_code] += 1
        problem = None
        if response.status_code >= 500:
            tally.server_errors += 1
            problem = "server error"
        elif response.status_code >= 400:
            try:
                shape = response.json()
            except ValueError:
                shape = None
            if not (isinstance(shape, dict) and {"code", "message", "detail"} <= set(shape)):
                problem = "not the error shape"
        if problem:
            tally.check_failures += response.status_code < 500
            key = (label, f"hostile: {problem}")
            if key not in tally.distinct:
                sample = (body or "")[:120]
                answer = f"{response.status_code} {response.text[:300]}"
                tally.distinct[key] = ("editor", "hostile", answer, sample)

    @staticmethod
    def _known_path_parameters(session, url, headers, path: str, actors: Actors) -> dict[str, Any] | None:
        """Real values for each {param} in path, taken from the first row of the collection before it
        (e.g. /plans/{id}/versions/{number}/: id from /plans/, number from /plans/{id}/versions/)."""
        fixed = {"/api/v1/plans/": ("id", actors.plan_id), "/api/v1/teams/": ("id", actors.team_id)}
        values: dict[str, Any] = {}
        prefix = ""
        for segment in path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if prefix in fixed and fixed[prefix][0] == name:
                    values[name] = fixed[prefix][1]
                elif name == "user_id":
                    # Never the editor itself: a generated DELETE would make it leave the team.
                    values[name] = actors.viewer_user_id
                else:
                    value = Command._first_value(session, url + prefix, headers, name)
                    if value is None:
                        return None
                    values[name] = value
                prefix += f"{values[name]}/"
            else:
                prefix = (prefix or "/") + segment + "/"
        return values or None

    @staticmethod
    def _first_value(session, list_url: str, headers, name: str):
        try:
            response = session.get(list_url, headers=headers, timeout=30)
            body = response.json() if response.status_code == 200 else None
        except ValueError:
            return None
        rows = body.get("results") if isinstance(body, dict) else body
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
            return None
        row = rows[0]
        return row.get(name, row.get("id") if name in ("pk", "id") else None)

    def _run(
        self, *, operation, strategy_kwargs, label, url, session, headers, checks, tally, seed, **limits
    ):
        import hypothesis
        from schemathesis.core.failures import Failure, FailureGroup

        caller, mode = label
        deadline = limits["deadline"]

        @hypothesis.seed(seed)
        @hypothesis.settings(
            max_examples=limits["max_examples"],
            deadline=None,
            database=None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
            verbosity=hypothesis.Verbosity.quiet,
        )
        @hypothesis.given(case=operation.as_strategy(**strategy_kwargs))
        def fuzz(case):
            if time.monotonic() > deadline:
                return
            response = case.call(base_url=url, session=session, headers=headers, timeout=60)
            tally.requests += 1
            tally.statuses[response.status_code] += 1
            if response.status_code >= 500:
                tally.server_errors += 1
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except (Failure, FailureGroup) as exc:
                failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
                for failure in failures:
                    tally.check_failures += 1
                    key = (operation.label, failure.title)
                    if key not in tally.distinct:
                        curl = case.as_curl_command(headers=headers)
                        tally.distinct[key] = (caller, mode, failure.message, curl)

        try:
            fuzz()
        except Exception as exc:  # generation impossible (e.g. nothing to negate): note it, not a failure
            tally.generation_errors.setdefault(f"{operation.label} [{caller}, {mode}]", repr(exc)[:200])

    def _report(self, tally: Tally) -> None:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(tally.statuses.items()))
        self.stdout.write(f"responses by status: {statuses}")
        for (operation, title), (caller, mode, message, curl) in tally.distinct.items():
            self.stdout.write(f"FAIL {operation} [{caller}, {mode}] {title}\n  {message[:600]}\n  {curl}")
        for where, error in tally.generation_errors.items():
            self.stdout.write(f"(no generation for {where}: {error})")


def _properties(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> list[str]:
    """Top-level property names of a request-body schema (following $ref and allOf)."""
    if depth > 8:
        return []
    if "$ref" in schema:
        return _properties(schemas.get(schema["$ref"].rsplit("/", 1)[-1], {}), schemas, depth + 1)
    names = list(schema.get("properties", {}))
    for part in schema.get("allOf", []) + schema.get("oneOf", []):
        names += [n for n in _properties(part, schemas, depth + 1) if n not in names]
    return names
