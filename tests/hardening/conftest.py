"""The API tests' actors and catalog (tests/planner/conftest.py), shared rather than copied."""

from tests.planner.conftest import (  # noqa: F401 - fixtures are found by name
    _fresh_throttle_counters,
    catalog,
    client_for,
    editor,
    other_team,
    outsider,
    plan,
    staff,
    team,
    team_admin,
    users,
    viewer,
)
