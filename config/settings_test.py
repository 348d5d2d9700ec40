"""Settings for the test suite: the normal settings plus isolation from a developer's running `make run`.

Tests publish to their own queue (and, in embedded mode, their own broker folder), so a development worker
never takes a test's message and a test worker never takes a developer's. Worker subprocesses started by
tests/conftest.py get DJANGO_SETTINGS_MODULE=config.settings_test too.
"""

from config.env import env_str
from config.settings import *  # noqa: F403
from config.settings import VAR_DIR, filesystem_broker_options

CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "planner-test")
if CELERY_BROKER_URL == "filesystem://":  # noqa: F405
    BROKER_DIR = VAR_DIR / "test-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
