"""Settings for consentsvc, read from the environment.

``DJANGO_ENV`` picks the profile: ``development`` (the default: SQLite and files
under ``var/``, generated development keys), ``test``, or ``production`` (which
refuses to start without real secrets).
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from consentsvc.env import dev_secret_file, envbool, envint, envlist, envstr, random_token

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = envstr("DJANGO_ENV", "development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV={ENVIRONMENT!r}: use development, test or production")
PRODUCTION = ENVIRONMENT == "production"

VAR_DIR = Path(envstr("VAR_DIR") or BASE_DIR / "var").resolve()
KEYS_DIR = VAR_DIR / "keys"

DEBUG = envbool("DEBUG", default=ENVIRONMENT == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production")

_secret = envstr("SECRET_KEY")
if _secret is None:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DJANGO_ENV=production")
    _secret = dev_secret_file(KEYS_DIR / "secret_key", random_token).decode()
SECRET_KEY = _secret

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS") or (["*"] if not PRODUCTION else [])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DJANGO_ENV=production")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "consentsvc.apps.ConsentsvcConfig",
    "accounts",
    "audit",
    "consent",
    "vault",
    "suggestions",
    "support",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "audit.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "consentsvc.urls"
WSGI_APPLICATION = "consentsvc.wsgi.application"
ASGI_APPLICATION = "consentsvc.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.roles",
            ],
        },
    },
]

_database_url = envstr("DATABASE_URL")
if _database_url:
    try:
        _db = dj_database_url.parse(_database_url, conn_max_age=envint("DB_CONN_MAX_AGE", 60, minimum=0))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
    if not _db.get("ENGINE"):
        raise ImproperlyConfigured("DATABASE_URL names no known database engine")
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db.setdefault("TEST", {})["NAME"] = envstr("TEST_DATABASE_NAME") or None
        if not _db["TEST"]["NAME"]:
            del _db["TEST"]["NAME"]
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
        "OPTIONS": {
            # IMMEDIATE takes the write lock at BEGIN, which serialises writers
            # (and so the audit chain head) instead of failing them on upgrade.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if ENVIRONMENT == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"  # each role's home (accounts.views.home)
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Failed logins: five tries per username and address, then a one-hour lock.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_HOURS", 1, minimum=0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = envbool("AXES_ENABLED", default=True)
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# Pages get that template; the API gets {"error": {"code": "login_locked", ...}} (429).
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "blobs", "file_permissions_mode": 0o600},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Vault blobs (ciphertext only) go to S3-compatible object storage when a bucket is named.
if envstr("VAULT_S3_BUCKET"):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": envstr("VAULT_S3_BUCKET"),
            "location": envstr("VAULT_S3_PREFIX", ""),
            "endpoint_url": envstr("VAULT_S3_ENDPOINT_URL") or None,
            "region_name": envstr("VAULT_S3_REGION") or None,
            "access_key": envstr("VAULT_S3_ACCESS_KEY_ID") or None,
            "secret_key": envstr("VAULT_S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }

# Vault: master keys (id:base64key, comma or newline separated, first active; generated
# under KEYS_DIR outside production), upload limit, and the grace before a withdrawal's
# crypto-shred. Uploads stay in memory up to the limit: plaintext never touches disk.
VAULT_MASTER_KEYS = envstr("VAULT_MASTER_KEYS")
VAULT_MAX_UPLOAD_BYTES = envint("VAULT_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1)
# The most pixels an uploaded image may declare; more is refused as a decompression bomb.
VAULT_MAX_IMAGE_PIXELS = envint("VAULT_MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
WITHDRAWAL_GRACE_DAYS = envint("WITHDRAWAL_GRACE_DAYS", 0, minimum=0)
# After a material notice change, how long a holder who has not agreed again keeps their library.
LAPSE_GRACE_DAYS = envint("LAPSE_GRACE_DAYS", 30, minimum=0)
FILE_UPLOAD_HANDLERS = ["vault.uploads.MemoryOnlyUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = VAULT_MAX_UPLOAD_BYTES

# Background work: Celery on Redis when CELERY_BROKER_URL is set, otherwise in process
# (a worker thread; SUGGESTIONS_JOBS_INLINE runs jobs synchronously after commit, as tests do).
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
SUGGESTIONS_JOBS_INLINE = envbool("SUGGESTIONS_JOBS_INLINE", default=ENVIRONMENT == "test")
# Uploads in a burst start one generation pass, this long after the last of them.
SUGGESTIONS_DEBOUNCE_SECONDS = envint("SUGGESTIONS_DEBOUNCE_SECONDS", 60, minimum=0)
SUGGESTIONS_PER_PASS = envint("SUGGESTIONS_PER_PASS", 6, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API call gets 401 with WWW-Authenticate.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "consentsvc.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "consentsvc.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth_token": "10/minute"},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "consentsvc API",
    "DESCRIPTION": (
        "Consent, encrypted camera-roll media, suggestions, audit and support. "
        "Every error is {\"error\": {\"code\", \"message\"}}; the codes are listed under ErrorCode."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["consentsvc.api.schema.add_error_codes"],
    "ENUM_NAME_OVERRIDES": {
        "ExclusionKindEnum": [("date_range", "Date Range"), ("place", "Place")],
        "SuggestionStatusEnum": "suggestions.models.Suggestion.Status",
        "SuggestionJobStatusEnum": "suggestions.models.SuggestionJob.Status",
        "DataExportStatusEnum": "support.models.DataExport.Status",
    },
}

# Where the Ed25519 private keys that sign consent receipts and audit
# checkpoints come from: PEM in the environment (or *_FILE), otherwise a
# generated development key under var/keys (refused in production).
RECEIPT_SIGNING_KEY = envstr("RECEIPT_SIGNING_KEY")
AUDIT_SIGNING_KEY = envstr("AUDIT_SIGNING_KEY")
AUDIT_CHECKPOINT_ORIGIN = envstr("AUDIT_CHECKPOINT_ORIGIN", "consentsvc.local/audit")
AUDIT_CHECKPOINT_EVERY = envint("AUDIT_CHECKPOINT_EVERY", 1000, minimum=1)
# The secret every audit event carries a MAC under (at least 32 characters; *_FILE works; generated
# under var/keys outside production). Never stored in the database.
AUDIT_MAC_KEY = envstr("AUDIT_MAC_KEY")
# A signed checkpoint at most this long after any new event (housekeeping runs audit_checkpoint).
AUDIT_CHECKPOINT_SECONDS = envint("AUDIT_CHECKPOINT_SECONDS", 10, minimum=1)
# Witnesses whose cosignatures the audit trail accepts (C2SP tlog-cosignature), as note verifier
# keys <name>+<key id>+<base64(0x04 || Ed25519 public key)>, comma or newline separated.
AUDIT_WITNESSES = envlist("AUDIT_WITNESSES")

CONSENT_JURISDICTION = envstr("CONSENT_JURISDICTION", "EU")
CONSENT_RETENTION = envstr("CONSENT_RETENTION", "P6Y")

# Support cases grant an agent rights on one account for this long; holders'
# data exports wait (encrypted) this many days before they are deleted.
SUPPORT_CASE_HOURS = envint("SUPPORT_CASE_HOURS", 8, minimum=1)
SUPPORT_EXPORT_DAYS = envint("SUPPORT_EXPORT_DAYS", 7, minimum=1)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "WARNING")},
}
