"""docker-compose.yml runs postgres, redis, web (migrate then gunicorn) and worker, all health-checked."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _command(service) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_compose_defines_the_four_services(compose):
    assert set(compose["services"]) == {"postgres", "redis", "web", "worker"}


def test_every_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check, name
        assert check["test"], name
        assert check.get("interval") and check.get("retries"), name


def test_web_migrates_then_runs_gunicorn(compose):
    command = _command(compose["services"]["web"])

    assert "manage.py migrate" in command
    assert "gunicorn -c config/gunicorn.py config.wsgi" in command  # its request-line limits
    assert command.index("migrate") < command.index("gunicorn")
    assert "/healthz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


def test_worker_runs_celery(compose):
    command = _command(compose["services"]["worker"])

    assert "celery -A config worker" in command


@pytest.mark.parametrize("name", ["web", "worker"])
def test_app_services_run_in_production_mode_against_postgres_and_redis(compose, name):
    service = compose["services"][name]
    env = service["environment"]

    assert env["DJANGO_ENV"] == "production"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    for dependency in ("postgres", "redis"):
        assert service["depends_on"][dependency]["condition"] == "service_healthy"


def test_database_lives_on_a_named_volume(compose):
    volumes = compose["services"]["postgres"]["volumes"]

    assert any(volume.split(":")[1] == "/var/lib/postgresql/data" for volume in volumes)
    assert volumes[0].split(":")[0] in compose["volumes"]
