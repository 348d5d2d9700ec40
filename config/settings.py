"""Django settings for the LLM inference planning service.

Everything comes from the environment (see README "Configuration"). Two modes share this file:

* embedded (default, no variables): SQLite under var/ and Celery's filesystem broker under var/broker/,
  so `make run` needs nothing but Python;
* production (DJANGO_ENV=production): SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and a broker URL are required,
  DEBUG is off and the HTTPS/cookie hardening that `manage.py check --deploy` asks for is on.

DATABASE_URL and REDIS_URL / CELERY_BROKER_URL work in either mode (the CI suite runs on PostgreSQL + Redis
with DJANGO_ENV unset). A set but malformed variable raises config.env.EnvError naming it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from config.env import (
    EnvError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    parse_database_url,
    validate_broker_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PLANNER_VAR_DIR", str(BASE_DIR / "var")))

DJANGO_ENV = env_choice("DJANGO_ENV", "development", ("development", "production"))
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise EnvError("DEBUG", "must not be true when DJANGO_ENV=production")

DEV_SECRET_KEY = "django-insecure-dev-only-key-not-for-production"
if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY", required=True)
    # A published key is no secret: the development default, Django's "insecure" keys and the
    # .env.example placeholder are refused, so a copied example file cannot reach production unchanged.
    if SECRET_KEY == DEV_SECRET_KEY or SECRET_KEY.startswith(("django-insecure", "change-me")):
        raise EnvError("SECRET_KEY", "is a published default or placeholder; set a random secret of your own")
else:
    # Development-only key; production has no default (env_str(..., required=True) above).
    SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    default=["localhost", "127.0.0.1", "[::1]", "testserver"],
    required=PRODUCTION,
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "planner",
]

MIDDLEWARE = [
    # First: an oversized body is refused (413) before any other middleware or view can read it.
    "planner.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: refuses a locked-out login (django-axes) after the other middleware has run.
    "axes.middleware.AxesMiddleware",
]

# Login lock-out (django-axes): after PLANNER_LOGIN_FAILURE_LIMIT wrong passwords for one username from one
# address, that pair is refused (429) for PLANNER_LOGIN_COOLOFF_MINUTES, on the site's and the admin's login
# alike; a right password resets the count. Keyed by username and address together so a stranger cannot lock
# a user out from elsewhere; the address is planner.security.client_ip (the trusted-proxy rule).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("PLANNER_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("PLANNER_LOGIN_COOLOFF_MINUTES", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "planner.security.client_ip"
AXES_HTTP_RESPONSE_CODE = 429
# API tokens: an address that sends this many wrong tokens within the window gets 429 until it ends
# (planner/api/authentication.py).
TOKEN_FAILURE_LIMIT = env_int("PLANNER_TOKEN_FAILURE_LIMIT", 20, minimum=1)
TOKEN_FAILURE_WINDOW_S = env_float("PLANNER_TOKEN_FAILURE_WINDOW_S", 600.0, minimum=1.0)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL", required=PRODUCTION)
if _database_url:
    _default_db = parse_database_url("DATABASE_URL", _database_url)
    _default_db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
    _default_db["CONN_HEALTH_CHECKS"] = True
else:
    # SQLite cannot create the folder of its file.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _default_db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}

if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    _default_db.setdefault("OPTIONS", {}).update(
        {
            # Web, worker and heartbeat thread write concurrently: WAL lets readers run beside a writer and
            # IMMEDIATE transactions plus a busy timeout queue writers instead of failing with "locked".
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            # Seconds a writer waits for the lock before "database is locked" (OperationalError).
            "timeout": env_float("PLANNER_SQLITE_BUSY_TIMEOUT_S", 20.0, minimum=0.1),
        }
    )
    # A real file (not ":memory:") so a worker subprocess in the end-to-end tests sees the test database.
    _default_db["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}

# The worker started by the end-to-end tests points at the test database through this variable; it also
# lets an operator aim a one-off command at another database on the same server.
_db_name_override = env_str("PLANNER_DB_NAME_OVERRIDE")
if _db_name_override:
    _default_db["NAME"] = _db_name_override

DATABASES = {"default": _default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Web interface sign-in (planner/web, Django's auth views).
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:calculator"
LOGOUT_REDIRECT_URL = "web:calculator"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (whitenoise serves them from gunicorn in production) ---------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Front-end packages come from the npm registry (package.json, `npm ci` in `make venv`/`make assets`) and are
# served from node_modules under a prefix: only each package's dist folder is exposed, nothing is vendored.
STATICFILES_DIRS = [("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist")]

# Outside production whitenoise serves straight from the app folders, so no collectstatic is needed.
WHITENOISE_AUTOREFRESH = not PRODUCTION
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Security (production) ------------------------------------------------------------------------------
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Container health checks call /healthz over plain HTTP from inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        # Only behind a proxy that sets this header itself and strips it from clients.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Request size ---------------------------------------------------------------------------------------
# Bodies above this are refused with 413 by planner.middleware.BodySizeLimitMiddleware (the API's largest
# legitimate body, a pasted config.json, is a few kB).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("PLANNER_MAX_BODY_BYTES", 1_048_576, minimum=1024)
# A team's benchmark file (planner.services.measurements) may be larger: the upload paths take this much,
# plus the multipart form's own bytes; a larger file is refused with the same 413.
MEASUREMENT_UPLOAD_MAX_BYTES = env_int("PLANNER_MAX_UPLOAD_BYTES", 20 * 1_048_576, minimum=1024)
# An estimate billed at a price point read longer ago than this carries a stale_price warning.
PRICE_STALE_AFTER_DAYS = env_int("PLANNER_PRICE_STALE_AFTER_DAYS", 365, minimum=1)
UPLOAD_PATH_PREFIXES = ("/api/v1/measurement-sets/", "/measurements/")

# --- Cache (DRF throttling counters) --------------------------------------------------------------------
# Per-process memory by default; set CACHE_URL (redis://...) so every web process shares the counters.
# Its own variable, not REDIS_URL: clearing a cache must never flush the broker's database.
_cache_url = env_str("CACHE_URL")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://")):
    raise EnvError("CACHE_URL", "must be a redis:// or rediss:// URL")
if _cache_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST framework ------------------------------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    # Token first: unauthenticated requests get 401 with "WWW-Authenticate: Token" rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "planner.api.authentication.LockingTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON within the bounds a request can have (depth, finite numbers, no NUL): planner/api/parsers.py.
    "DEFAULT_PARSER_CLASSES": [
        "planner.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "planner.api.pagination.PageNumber",
    "PAGE_SIZE": 50,
    # Documents each operation's error responses too (400/401/403/404/413/415/429), in the error shape.
    "DEFAULT_SCHEMA_CLASS": "planner.api.schema.ErrorDocumentingAutoSchema",
    "EXCEPTION_HANDLER": "planner.api.errors.exception_handler",
    # Throttles key anonymous callers by the connection's address; X-Forwarded-For is read only through this
    # many trusted proxies (0: ignored, so rotating the header does not escape the limit).
    "NUM_PROXIES": env_int("PLANNER_TRUSTED_PROXIES", 0, minimum=0),
    "DEFAULT_THROTTLE_RATES": {
        "estimate_anon": env_str("PLANNER_ESTIMATE_ANON_RATE", "30/min"),
        "estimate_user": env_str("PLANNER_ESTIMATE_USER_RATE", "600/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LLM inference planning service",
    "DESCRIPTION": "Memory, speed and cost estimates for serving LLMs; catalog, teams and versioned plans.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ----------------------------------------------------------------------------------------------
# Reference for every setting below: https://docs.celeryq.dev/en/stable/userguide/configuration.html
_broker_var = "CELERY_BROKER_URL" if env_str("CELERY_BROKER_URL") else "REDIS_URL"
_broker_url = env_str(_broker_var)
if PRODUCTION and not _broker_url:
    raise EnvError("REDIS_URL", "is required when DJANGO_ENV=production (or set CELERY_BROKER_URL)")
BROKER_DIR = Path(env_str("PLANNER_BROKER_DIR", str(VAR_DIR / "broker")))


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's filesystem transport: one folder is both in- and outbox, so producer and worker meet there.

    https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.filesystem.html
    The folders are created by config.celery before the first connection.
    """
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "polling_interval": 0.2,
    }


TASK_SOFT_TIME_LIMIT_S = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
TASK_TIME_LIMIT_S = env_int("CELERY_TASK_TIME_LIMIT", TASK_SOFT_TIME_LIMIT_S + 30, minimum=1)
if TASK_TIME_LIMIT_S <= TASK_SOFT_TIME_LIMIT_S:
    raise EnvError("CELERY_TASK_TIME_LIMIT", "must be greater than CELERY_TASK_SOFT_TIME_LIMIT")

if _broker_url:
    CELERY_BROKER_URL = validate_broker_url(_broker_var, _broker_url)
    # With acks_late, Redis redelivers an unacked message after the visibility timeout: it must exceed the
    # hard time limit or a long task runs twice.
    # https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": max(3600, TASK_TIME_LIMIT_S * 2)}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
    # kombu's filesystem fanout never deletes exchange bindings, so every broadcast would pile up in the
    # folders of long-dead workers; liveness comes from the database heartbeat instead (planner.heartbeat).
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False

CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# JSON only: no pickle, so no code execution from a message. #std-setting-accept_content
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# Ack after the task ran, and requeue if the worker process died mid-task: tasks must be idempotent.
# #task-acks-late, #task-reject-on-worker-lost
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A worker reserves one message at a time, so a long job does not hold others hostage.
# #worker-prefetch-multiplier and userguide/optimizing.html#prefetch-limits
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep running tasks when the broker connection is lost (the default until Celery 6; the worker logs a
# CPendingDeprecationWarning on each loss). Cancelling would kill the pool process in the middle of a
# comparison chunk and leave the chunk claimed by a worker that still beats, so the reaper would return it
# only after the task time limit; finishing it instead writes its result to the database, which owns
# results, and the ack that can no longer reach the broker is harmless: a redelivered message finds the
# chunk done and does nothing (tests/e2e/test_faults.py restarts Redis mid-job).
# #worker-cancel-long-running-tasks-on-connection-loss
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# #task-time-limit, #task-soft-time-limit
CELERY_TASK_SOFT_TIME_LIMIT = TASK_SOFT_TIME_LIMIT_S
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT_S
# The database owns results: no result backend, results ignored. #task-ignore-result
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "planner")
# Never run tasks in-process: tests use a real worker. #task-always-eager
CELERY_TASK_ALWAYS_EAGER = False

# Worker liveness: each worker upserts a WorkerHeartbeat row every interval; /healthz counts rows fresher
# than the stale threshold. See planner/heartbeat.py for why this is not `celery inspect ping`.
WORKER_HEARTBEAT_INTERVAL_S = env_float("PLANNER_WORKER_HEARTBEAT_S", 5.0, minimum=0.1)
WORKER_HEARTBEAT_STALE_S = env_float("PLANNER_WORKER_STALE_S", 30.0, minimum=1.0)

# --- Comparisons (planner.services.comparisons) ------------------------------------------------------------
# A grid above this many configurations is refused with 400.
COMPARISON_MAX_CONFIGURATIONS = env_int("PLANNER_COMPARISON_MAX_CONFIGURATIONS", 5_000_000, minimum=1)
# Configurations per chunk task (calculator.planning.plan_chunks target); each chunk is one message.
# Per team: at most this many queued or running jobs, and this many of their configurations in all; a
# submission beyond either is refused with 429 (one team's big grids cannot fill the queue for the others).
COMPARISON_TEAM_MAX_ACTIVE_JOBS = env_int("PLANNER_TEAM_MAX_ACTIVE_COMPARISONS", 4, minimum=1)
COMPARISON_TEAM_MAX_ACTIVE_CONFIGURATIONS = env_int(
    "PLANNER_TEAM_MAX_ACTIVE_CONFIGURATIONS", 10_000_000, minimum=1
)
# A chunk costs ~60 ms of task and database overhead besides ~0.3 s of engine time at 500,000 (about 160 MB
# peak per worker process); smaller chunks spread small jobs over more workers but add overhead
# (benchmark_comparisons, README "Comparisons").
COMPARISON_CHUNK_CONFIGURATIONS = env_int("PLANNER_COMPARISON_CHUNK_CONFIGURATIONS", 500_000, minimum=1)
# Each job has at most this many chunk messages in the queue at once; a finished chunk sends the job's next
# one. The broker is first in, first out: a team's big grid no longer puts all its chunks ahead of another
# team's one-chunk job, which waits behind at most this many chunks per running job.
COMPARISON_CHUNK_WINDOW = env_int("PLANNER_COMPARISON_CHUNK_WINDOW", 4, minimum=1)
# A chunk whose worker died is retried; the job fails once a chunk has been claimed this many times.
COMPARISON_MAX_ATTEMPTS = env_int("PLANNER_COMPARISON_MAX_ATTEMPTS", 3, minimum=1)
# Team calibration fits (planner.services.calibrations): claims of one fit before it fails with the reason,
# and the most measurement rows one fit takes (a 500-row fit runs in seconds; README "Your own benchmarks").
CALIBRATION_MAX_ATTEMPTS = env_int("PLANNER_CALIBRATION_MAX_ATTEMPTS", 3, minimum=1)
CALIBRATION_MAX_ROWS = env_int("PLANNER_CALIBRATION_MAX_ROWS", 5000, minimum=10)
# Seconds a fit sleeps at each progress step (tests slow a worker down to kill it mid-fit; 0 in service).
CALIBRATION_FIT_DELAY_S = env_float("PLANNER_CALIBRATION_FIT_DELAY_S", 0.0, minimum=0.0)
# Every worker's heartbeat thread runs the reapers this often (planner.services.comparison_reaper and
# calibration_reaper).
COMPARISON_REAP_INTERVAL_S = env_float("PLANNER_COMPARISON_REAP_S", 10.0, minimum=0.1)
# A chunk still pending this long after its message was sent gets another message (a broker may lose the
# message a killed worker had fetched; a duplicate is harmless: claims are conditional).
COMPARISON_PENDING_RESEND_S = env_float("PLANNER_COMPARISON_PENDING_RESEND_S", 120.0, minimum=1.0)
# Tests and demos only: each chunk task sleeps this long first, so a job can be cancelled or killed mid-run.
COMPARISON_CHUNK_DELAY_S = env_float("PLANNER_COMPARISON_CHUNK_DELAY_S", 0.0, minimum=0.0)

# --- Logging -----------------------------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
