"""Havn settings, read from the environment (see docs/operations.md for every variable).

``HAVN_ENV`` picks the defaults: ``production`` (the default: everything strict, every service
URL required), ``dev`` (the zero-setup run: SQLite, an embedded file-system Celery broker, a local
object store under ``var/``) or ``test`` (the suite: PostgreSQL and Redis from ``DATABASE_URL`` and
``REDIS_URL``).
"""

import base64
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from infra.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
HAVN_ENV = env_str("HAVN_ENV", "production")
if HAVN_ENV not in {"production", "dev", "test"}:
    raise ImproperlyConfigured(f"HAVN_ENV must be production, dev or test, not {HAVN_ENV!r}.")
PRODUCTION = HAVN_ENV == "production"
VAR_DIR = Path(env_str("HAVN_VAR_DIR", str(BASE_DIR / "var")))


def _dev_file(name: str, make) -> str:
    """A random value kept in var/ so that the zero-setup run survives restarts; never used in
    production."""
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("HAVN_DEBUG", HAVN_ENV == "dev")
if PRODUCTION:
    SECRET_KEY = env_str("HAVN_SECRET_KEY")
elif HAVN_ENV == "test":
    SECRET_KEY = secrets.token_urlsafe(50)
else:
    SECRET_KEY = env_str("HAVN_SECRET_KEY", "") or _dev_file(
        "secret_key", lambda: secrets.token_urlsafe(50)
    )
ALLOWED_HOSTS = env_list(
    "HAVN_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("HAVN_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "accounts",
    "hosting",
    "backups",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.StaffTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The API: RateLimit headers on every answer, Idempotency-Key on every write (api/).
    "api.throttling.RateLimitHeadersMiddleware",
    "api.idempotency.IdempotencyMiddleware",
]

if PRODUCTION:  # runserver and the test live server serve static files themselves
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "infra.urls"
WSGI_APPLICATION = "infra.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.panel",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
if HAVN_ENV == "dev":
    _default_db = f"sqlite:///{VAR_DIR / 'havn.sqlite3'}"
else:
    _default_db = env_str("DATABASE_URL")
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_db), conn_max_age=env_int("HAVN_DB_CONN_MAX_AGE", 60)
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["TEST"] = {"NAME": env_str("HAVN_TEST_DB_NAME", "test_havn")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The zero-setup run's web server, worker processes and beat write at once: take the write
    # lock when a transaction starts and wait for it, rather than fail with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery -------------------------------------------------------------------------
# Production and the suite use Redis for the broker, the cache (throttling, lockout) and results.
# The zero-setup run uses an embedded file-system broker and a file cache: no server to install.
REDIS_URL = env_str("REDIS_URL", "") if HAVN_ENV == "dev" else env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Each test run gets its own prefix, so runs sharing a Redis never see each other.
            "KEY_PREFIX": env_str(
                "HAVN_CACHE_PREFIX",
                f"havn-test-{secrets.token_hex(4)}" if HAVN_ENV == "test" else "havn",
            ),
        }
    }
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    # The folders are created by `manage.py run_embedded` before the worker starts.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "data_folder_processed": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Europe/Copenhagen"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Authentication -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if HAVN_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2
OTP_TOTP_ISSUER = env_str("HAVN_OTP_ISSUER", "Havn")
# Brute-force protection: an e-mail address is locked after this many failures in a row.
LOGIN_FAILURE_LIMIT = env_int("HAVN_LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT = timedelta(minutes=env_int("HAVN_LOGIN_LOCKOUT_MINUTES", 15))
SESSION_COOKIE_AGE = env_int("HAVN_SESSION_AGE", 60 * 60 * 12)

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "da"
LANGUAGES = [("da", _("Danish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Copenhagen"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("HAVN_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploaded files (identity documents): private, never served as static files.
MEDIA_ROOT = Path(env_str("HAVN_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"

# --- E-mail ---------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("HAVN_FROM_EMAIL", "Havn <noreply@havn.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env_str("HAVN_EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("HAVN_EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("HAVN_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = env_str("HAVN_EMAIL_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("HAVN_EMAIL_TLS", True)
elif HAVN_ENV == "dev":
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")

# --- Security -------------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("HAVN_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("HAVN_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("HAVN_MAX_REQUEST_BYTES", 2 * 1024 * 1024)

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.IsAuthenticatedMember"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.AnonThrottle",
        "api.throttling.KeyThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("HAVN_API_ANON_RATE", "60/min"),
        "user": env_str("HAVN_API_USER_RATE", "1200/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# A staff API key (acting with its creator's staff role) must expire within this many days.
HAVN_STAFF_KEY_MAX_DAYS = env_int("HAVN_STAFF_KEY_MAX_DAYS", 90)
SPECTACULAR_SETTINGS = {
    "TITLE": "Havn API",
    "DESCRIPTION": "Provisioning and account API of Havn. Authenticate with `Authorization: "
    "Bearer <api key>`; errors are `application/problem+json` (RFC 9457).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_common_parameters",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "MembershipRoleEnum": "accounts.models.Role",
        "CustomerStatusEnum": "accounts.models.Customer.Status",
        "ServerRoleEnum": "hosting.models.Server.Role",
        "ServerStatusEnum": "hosting.models.Server.Status",
        "ResourceStatusEnum": "hosting.models.ResourceStatus",
        "OperationStatusEnum": "hosting.models.Operation.Status",
        "ApiKeyScopeEnum": "accounts.models.ApiKey.Scope",
        "DnsRecordTypeEnum": "hosting.models.DnsRecord.Type",
        "SnapshotEntryTypeEnum": ["file", "dir", "symlink"],
    },
}

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "infra.logging.formatter", "json": PRODUCTION}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": env_str("HAVN_LOG_LEVEL", "INFO")},
    "loggers": {
        "paramiko": {"level": "WARNING"},
        # Django's loggers would keep the handlers of its DEFAULT_LOGGING, whose formatters do not
        # scrub (infra/logging.py): they log through the root handler like every other logger.
        "django": {"level": "INFO", "handlers": [], "propagate": True},
        "django.server": {"level": "INFO", "handlers": [], "propagate": True},
    },
}

# --- Havn -----------------------------------------------------------------------------------------
# The panel's public address, used in e-mails sent outside a request (invitations).
HAVN_PANEL_URL = env_str("HAVN_PANEL_URL", "http://127.0.0.1:8000").rstrip("/")
# Keys that encrypt secrets kept in the database (infra/secretbox.py); the first one encrypts.
# Make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key())"
if PRODUCTION:
    HAVN_DATA_KEYS = env_list("HAVN_DATA_KEYS", [])
    if not HAVN_DATA_KEYS:
        raise ImproperlyConfigured("The environment variable HAVN_DATA_KEYS must be set.")
elif HAVN_ENV == "test":
    HAVN_DATA_KEYS = [base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()]
else:
    HAVN_DATA_KEYS = env_list("HAVN_DATA_KEYS", []) or [
        _dev_file("data_key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    ]


# The platform keys (KEKs) that wrap every backup repository's keys (infra/keywrap.py), as
# "id:base64key" pairs; HAVN_PLATFORM_KEY_ID names the current one. Rotate by adding a key, making
# it current and running `manage.py backup rewrap-keys`.
def _platform_keys(pairs: list[str]) -> dict[str, bytes]:
    keys = {}
    for pair in pairs:
        key_id, _, encoded = pair.partition(":")
        key = base64.b64decode(encoded or "")
        if not key_id or len(key) != 32:
            raise ImproperlyConfigured("HAVN_PLATFORM_KEYS holds id:base64 pairs of 32-byte keys.")
        keys[key_id] = key
    return keys


if PRODUCTION:
    HAVN_PLATFORM_KEYS = _platform_keys(env_list("HAVN_PLATFORM_KEYS", []))
elif HAVN_ENV == "test":  # random per run, unless a test hands its keys to a child process
    HAVN_PLATFORM_KEYS = _platform_keys(env_list("HAVN_PLATFORM_KEYS", [])) or {
        "k1": secrets.token_bytes(32)
    }
else:
    HAVN_PLATFORM_KEYS = _platform_keys(
        env_list("HAVN_PLATFORM_KEYS", [])
        or [
            "dev1:"
            + _dev_file("platform_key", lambda: base64.b64encode(secrets.token_bytes(32)).decode())
        ]
    )
HAVN_PLATFORM_KEY_ID = env_str("HAVN_PLATFORM_KEY_ID", next(iter(HAVN_PLATFORM_KEYS), ""))
if PRODUCTION and HAVN_PLATFORM_KEY_ID not in HAVN_PLATFORM_KEYS:
    raise ImproperlyConfigured("HAVN_PLATFORM_KEYS must hold the key HAVN_PLATFORM_KEY_ID names.")

# Backups: how many runs may read from one hosting server at once.
HAVN_BACKUP_PER_SERVER = env_int("HAVN_BACKUP_PER_SERVER", 2)
# … and how many may write to the object store at once, over all servers and workers.
HAVN_BACKUP_PER_STORE = env_int("HAVN_BACKUP_PER_STORE", 8)
# Object-lock retention (days) of backup packs, index files and snapshots on S3; 0 = off. The
# bucket must have Object Lock enabled (docs/objectstore.md); prune keeps what is still locked.
HAVN_BACKUP_RETENTION_LOCK_DAYS = env_int("HAVN_BACKUP_RETENTION_LOCK_DAYS", 0)
if HAVN_BACKUP_RETENTION_LOCK_DAYS < 0:
    raise ImproperlyConfigured("HAVN_BACKUP_RETENTION_LOCK_DAYS must be 0 (off) or more.")
# Restores (docs/restore.md): how long a download link and its archive last, and where archives
# are built before they go to the object store.
HAVN_RESTORE_LINK_HOURS = env_int("HAVN_RESTORE_LINK_HOURS", 24)
HAVN_RESTORE_ARCHIVE_DAYS = env_int("HAVN_RESTORE_ARCHIVE_DAYS", 7)
HAVN_RESTORE_SPOOL_DIR = env_str("HAVN_RESTORE_SPOOL_DIR", "") or None
# Privacy (docs/privacy.md): the grace period between an account's closure and its purge, how
# long an export's download link lasts, and overrides of the retention rules in
# accounts/privacy/retention.py ({"rule key": {"period_days": n}}).
HAVN_CLOSURE_GRACE_DAYS = env_int("HAVN_CLOSURE_GRACE_DAYS", 56)
HAVN_EXPORT_LINK_DAYS = env_int("HAVN_EXPORT_LINK_DAYS", 7)
HAVN_RETENTION_RULES: dict = {}

# Webhooks (docs/api.md): deliveries to addresses that resolve to private, loopback or link-local
# networks are refused unless this allows them (the suite's local receiver); attempts per
# delivery, the first retry's delay (doubling after each failure), and how long the log is kept.
HAVN_WEBHOOK_ALLOW_PRIVATE = env_bool("HAVN_WEBHOOK_ALLOW_PRIVATE", HAVN_ENV == "dev")
HAVN_WEBHOOK_MAX_ATTEMPTS = env_int("HAVN_WEBHOOK_MAX_ATTEMPTS", 8)
HAVN_WEBHOOK_RETRY_SECONDS = env_int("HAVN_WEBHOOK_RETRY_SECONDS", 30)
HAVN_WEBHOOK_TIMEOUT_SECONDS = env_int("HAVN_WEBHOOK_TIMEOUT_SECONDS", 10)
HAVN_WEBHOOK_LOG_DAYS = env_int("HAVN_WEBHOOK_LOG_DAYS", 30)

# Drivers for what no machine here can run (docs/drivers.md); the defaults are local stand-ins.
HAVN_REGISTRY_DRIVER = env_str("HAVN_REGISTRY_DRIVER", "hosting.registry_local.LocalRegistry")
HAVN_IDENTITY_DRIVER = env_str("HAVN_IDENTITY_DRIVER", "infra.identity.LocalIdentityDriver")
HAVN_ACME_DRIVER = env_str("HAVN_ACME_DRIVER", "infra.acme.LocalCaDriver")
HAVN_PAYMENT_DRIVER = env_str("HAVN_PAYMENT_DRIVER", "infra.payments.LocalPaymentDriver")
# Billing (docs/billing.md): the seller printed on every invoice (Havn's own company; address
# lines separated by "|"), and the days an invoice gives to pay.
HAVN_SELLER = {
    "name": env_str("HAVN_SELLER_NAME", "Havn ApS"),
    "address": env_str("HAVN_SELLER_ADDRESS", "Havnegade 1|1058 København K|Danmark").split("|"),
    "cvr": env_str("HAVN_SELLER_CVR", "12345674"),
    "email": env_str("HAVN_SELLER_EMAIL", "faktura@havn.example"),
    "bank": env_str("HAVN_SELLER_BANK", "Reg.nr. 1234 kontonr. 0001234567"),
}
HAVN_INVOICE_DUE_DAYS = env_int("HAVN_INVOICE_DUE_DAYS", 14)
# Hosted DNS: the name servers a hosted zone delegates to, and the SOA contact.
HAVN_NAME_SERVERS = env_list("HAVN_NAME_SERVERS", ["ns1.havn.example", "ns2.havn.example"])
HAVN_HOSTMASTER = env_str("HAVN_HOSTMASTER", "hostmaster.havn.example")
# The private key Havn logs in to hosting servers with (their host keys are pinned per server).
HAVN_SSH_KEY_FILE = env_str("HAVN_SSH_KEY_FILE", str(VAR_DIR / "ssh" / "id_ed25519"))
# The bearer token Prometheus scrapes /metrics with; unset: the endpoint answers 404.
HAVN_METRICS_TOKEN = env_str("HAVN_METRICS_TOKEN", "")
CELERY_BEAT_SCHEDULE = {
    "resume-stale-operations": {
        "task": "hosting.tasks.resume_stale_operations",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    "plan-backups": {
        "task": "backups.tasks.plan_backups",
        "schedule": 900.0,
        "options": {"expires": 600},
    },
    "report-backups": {
        "task": "backups.tasks.report_backups",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    "renew-or-expire-domains": {
        "task": "hosting.tasks.renew_or_expire_domains",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600},
    },
    "sweep-restores": {
        "task": "backups.tasks.sweep_restores",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    "renew-certificates": {
        "task": "hosting.tasks.renew_certificates",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600},
    },
    "purge-idempotency-keys": {
        "task": "api.tasks.purge_idempotency_keys",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    "purge-webhook-log": {
        "task": "api.tasks.purge_webhook_log",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600},
    },
    "retry-webhook-deliveries": {
        "task": "api.tasks.retry_webhook_deliveries",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "apply-retention-rules": {
        "task": "accounts.tasks.apply_retention_rules",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600},
    },
}

# --- Object store (infra/objectstore.py, docs/objectstore.md) -------------------------------------
# Where backups and archives go: file:///absolute/path (a local folder) or s3://bucket[/prefix].
# Production must name it; dev and the suite default to a folder under var/.
if PRODUCTION:
    HAVN_OBJECTSTORE_URL = env_str("HAVN_OBJECTSTORE_URL")
else:
    HAVN_OBJECTSTORE_URL = env_str(
        "HAVN_OBJECTSTORE_URL", f"file://{(VAR_DIR / 'objectstore').resolve()}"
    )
if not HAVN_OBJECTSTORE_URL.startswith(("file:///", "s3://")):
    raise ImproperlyConfigured("HAVN_OBJECTSTORE_URL must start with file:/// or s3://.")
HAVN_S3_ENDPOINT_URL = env_str("HAVN_S3_ENDPOINT_URL", "")  # empty: AWS
HAVN_S3_REGION = env_str("HAVN_S3_REGION", "eu-north-1")
# Empty: boto3's own chain (AWS_* variables, instance role). Both accept NAME_FILE.
HAVN_S3_ACCESS_KEY = env_str("HAVN_S3_ACCESS_KEY", "")
HAVN_S3_SECRET_KEY = env_str("HAVN_S3_SECRET_KEY", "")
HAVN_S3_PATH_STYLE = env_bool("HAVN_S3_PATH_STYLE", False)  # MinIO, Ceph RGW usually need it
HAVN_S3_LOCK_MODE = env_str("HAVN_S3_LOCK_MODE", "COMPLIANCE")
if HAVN_S3_LOCK_MODE not in {"COMPLIANCE", "GOVERNANCE"}:
    raise ImproperlyConfigured("HAVN_S3_LOCK_MODE must be COMPLIANCE or GOVERNANCE.")
