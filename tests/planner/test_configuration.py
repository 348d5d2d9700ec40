"""Start-up configuration: a bad environment stops `manage.py` with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import EnvError, env_bool, env_int, env_list, parse_database_url, validate_broker_url

ROOT = Path(__file__).resolve().parents[2]
CONFIG_VARS = {
    "DJANGO_ENV",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "PLANNER_DB_NAME_OVERRIDE",
    "SECURE_SSL_REDIRECT",
    "DJANGO_SETTINGS_MODULE",
}
STRONG_KEY = "x7#Kq2!vLp9@Zr4$Wm8^Tn3&Yb6*Hc1(Fd5)Gs0-Jk2=Qe7+Ua9"
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "planner.example.com",
    "DATABASE_URL": "postgres://planner:secret@db.example.com:5432/planner",
    "REDIS_URL": "redis://cache.example.com:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in CONFIG_VARS}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://u@h:port/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://u@h:5432/"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost:6379/0"}, "REDIS_URL"),
        ({"CELERY_BROKER_URL": "redis://localhost:notaport/0"}, "CELERY_BROKER_URL"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DJANGO_ENV": "prod"}, "DJANGO_ENV"),
        ({"CELERY_TASK_SOFT_TIME_LIMIT": "soon"}, "CELERY_TASK_SOFT_TIME_LIMIT"),
        ({**PRODUCTION_ENV, "SECRET_KEY": ""}, "SECRET_KEY"),
        ({**PRODUCTION_ENV, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({**PRODUCTION_ENV, "DATABASE_URL": ""}, "DATABASE_URL"),
        ({**PRODUCTION_ENV, "REDIS_URL": ""}, "REDIS_URL"),
        ({**PRODUCTION_ENV, "DEBUG": "true"}, "DEBUG"),
    ],
)
def test_bad_configuration_stops_startup_naming_the_variable(env, variable):
    result = manage("check", **env)

    assert result.returncode != 0
    assert variable in result.stderr
    assert "Configuration error" in result.stderr


def test_missing_secret_key_in_production_is_an_error():
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != "SECRET_KEY"}

    result = manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY: is required" in result.stderr


def test_default_embedded_configuration_passes_check():
    result = manage("check")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_settings_pass_check_deploy_without_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_database_url_works_outside_production():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['ENGINE'], d['NAME'], settings.DEBUG, settings.CELERY_BROKER_URL)",
        DATABASE_URL="postgres://u@db.example.com:5432/planner",
        REDIS_URL="redis://cache.example.com:6379/3",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "planner",
        "True",
        "redis://cache.example.com:6379/3",
    ]


def test_embedded_mode_uses_sqlite_and_filesystem_broker():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'],"
        " settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in'])",
    )

    assert result.returncode == 0, result.stderr
    engine, broker, folder = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"
    assert folder == str(ROOT / "var" / "broker" / "queue")


def test_env_bool_rejects_unknown_words(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "sure")

    with pytest.raises(EnvError, match=r"^SOME_FLAG: expected a boolean"):
        env_bool("SOME_FLAG", default=False)


def test_env_helpers_read_values(monkeypatch):
    monkeypatch.setenv("A_BOOL", "off")
    monkeypatch.setenv("AN_INT", "42")
    monkeypatch.setenv("A_LIST", "a.example, b.example,,")

    assert env_bool("A_BOOL", default=True) is False
    assert env_int("AN_INT", 0) == 42
    assert env_list("A_LIST") == ["a.example", "b.example"]
    assert env_int("UNSET_INT_VARIABLE", 7) == 7


def test_env_int_enforces_minimum(monkeypatch):
    monkeypatch.setenv("AN_INT", "-1")

    with pytest.raises(EnvError, match=r"^AN_INT: must be >= 0"):
        env_int("AN_INT", 0, minimum=0)


def test_parse_database_url_accepts_postgres_and_sqlite():
    postgres = parse_database_url("DATABASE_URL", "postgresql://u:p@db:5433/planner")
    sqlite = parse_database_url("DATABASE_URL", "sqlite:////tmp/planner.sqlite3")

    assert (postgres["ENGINE"], postgres["HOST"], postgres["PORT"], postgres["NAME"]) == (
        "django.db.backends.postgresql",
        "db",
        5433,
        "planner",
    )
    assert sqlite["NAME"] == "/tmp/planner.sqlite3"


def test_validate_broker_url_requires_a_host():
    with pytest.raises(EnvError, match=r"^REDIS_URL: has no host"):
        validate_broker_url("REDIS_URL", "redis:///0")


@pytest.mark.django_db
def test_suite_runs_on_the_backends_the_environment_names():
    from django.conf import settings
    from django.db import connection

    on_services = bool(os.environ.get("DATABASE_URL"))

    assert connection.vendor == ("postgresql" if on_services else "sqlite")
    assert settings.CELERY_BROKER_URL.startswith(
        "redis://" if os.environ.get("REDIS_URL") else "filesystem://"
    )
