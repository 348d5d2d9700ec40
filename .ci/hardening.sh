#!/usr/bin/env bash
# Hardening checks, run once by .ci/run after the PostgreSQL + Redis suite (the security tests themselves are
# in tests/hardening/ and run with the suite):
#   1. pip-audit on the pinned requirements (fails on any known vulnerability);
#   2. schema-driven fuzzing of the running service (manage.py fuzz_api: gunicorn + a Celery worker on
#      PostgreSQL + Redis, >= 1,000 requests as an editor and anonymously, zero 5xx, zero schema breaks).
# Needs: HARDENING_PG_URL (postgres://user@host:port, no database: a fresh one is created), HARDENING_REDIS_URL.
# Optional: HARDENING_DB (database name), HARDENING_AUDIT_STRICT=1 (also fail when a pin could not be audited).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
: "${HARDENING_PG_URL:?postgres://user@host:port of the server to fuzz against}"
: "${HARDENING_REDIS_URL:?redis://host:port/db for the broker}"
HARDENING_DB=${HARDENING_DB:-planner_hardening}
ARTIFACTS=test-artifacts/hardening
mkdir -p "$ARTIFACTS"

step() { printf '\n=== %s ===\n' "$*"; }

step "pip-audit (requirements.txt, requirements-dev.txt)"
# Every pin is exact (transitive ones included), so no resolution is needed: --no-deps.
for requirements in requirements.txt requirements-dev.txt; do
  report="$ARTIFACTS/pip-audit-${requirements%.txt}.json"
  $PY -m pip_audit -r "$requirements" --no-deps --progress-spinner off --format json --output "$report" \
    2>"$ARTIFACTS/pip-audit-${requirements%.txt}.log" || true
  $PY - "$report" "$requirements" "${HARDENING_AUDIT_STRICT:-0}" <<'PYEOF'
import json
import sys

path, requirements, strict = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
try:
    with open(path) as fh:
        dependencies = json.load(fh)["dependencies"]
except (OSError, ValueError, KeyError) as exc:
    sys.exit(f"pip-audit {requirements}: no report ({exc}); see the .log beside {path}")
vulnerable = [d for d in dependencies if d.get("vulns")]
skipped = [d for d in dependencies if "skip_reason" in d]
audited = len(dependencies) - len(skipped)
print(f"AUDIT file={requirements} pins={len(dependencies)} audited={audited} "
      f"skipped={len(skipped)} vulnerable={len(vulnerable)}")
for dep in vulnerable:
    for vuln in dep["vulns"]:
        fixed = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
        print(f"  VULNERABLE {dep['name']}=={dep['version']}: {vuln['id']} (fixed in {fixed})")
if skipped:
    # A skipped pin is not a clean pin: say so loudly (the vulnerability service was not reachable).
    print(f"  WARNING: {len(skipped)} pin(s) NOT audited, e.g. {skipped[0]['name']}: {skipped[0]['skip_reason']}")
if vulnerable or (strict and skipped):
    sys.exit(1)
PYEOF
done

step "schema fuzzing of the running service (PostgreSQL + Redis)"
PGOPTIONS=--client-min-messages=warning psql "${HARDENING_PG_URL}/postgres" -qc "DROP DATABASE IF EXISTS \"${HARDENING_DB}\"" >/dev/null
psql "${HARDENING_PG_URL}/postgres" -qc "CREATE DATABASE \"${HARDENING_DB}\"" >/dev/null
DATABASE_URL="${HARDENING_PG_URL}/${HARDENING_DB}" REDIS_URL="$HARDENING_REDIS_URL" \
  $PY manage.py fuzz_api | tee "$ARTIFACTS/fuzz.log"
