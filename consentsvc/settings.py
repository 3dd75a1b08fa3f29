"""Settings for consentsvc, read from the environment.

``DJANGO_ENV`` picks the profile: ``development`` (the default: SQLite and files
under ``var/``, generated development keys), ``test``, or ``production`` (which
refuses to start without real secrets).
"""

import sys
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from core import clientip
from core.env import dev_secret_file, envbool, envint, envlist, envstr, private_dir, private_file, random_token

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
# Who may say where a request came from and whether it came over HTTPS (X-Forwarded-For and
# X-Forwarded-Proto): nobody by default, a count of proxies in front, or their networks.
# See core/clientip.py.
TRUSTED_PROXIES = envstr("TRUSTED_PROXIES", "")
TRUSTED_PROXIES_PARSED = clientip.parse(TRUSTED_PROXIES)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "core.apps.CoreConfig",
    "consentsvc.apps.ConsentsvcConfig",
    "accounts",
    "audit",
    "consent",
    "vault",
    "suggestions",
    "support",
]

MIDDLEWARE = [
    "consentsvc.middleware.forwarded_proto_middleware",  # X-Forwarded-Proto from TRUSTED_PROXIES only
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "accounts.tokens.CallingTokenMiddleware",
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
                "suggestions.context_processors.people_nav",
            ],
        },
    },
]

# Connections are kept between requests only where a thread serves many of them (gunicorn's
# workers; DB_CONN_MAX_AGE seconds), checked before reuse (CONN_HEALTH_CHECKS) so a connection the
# database dropped fails over to a new one instead of failing a request. Django's development
# server (`runserver`, `bin/serve --dev`) starts a thread per request and no thread is reused, so
# a kept connection would stay open, idle, for every request that touched the database until
# PostgreSQL runs out ("too many clients"): there, each request closes its own.
THREAD_PER_REQUEST = sys.argv[1:2] == ["runserver"]
_database_url = envstr("DATABASE_URL")
if _database_url:
    try:
        _db = dj_database_url.parse(
            _database_url,
            conn_max_age=0 if THREAD_PER_REQUEST else envint("DB_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
    if not _db.get("ENGINE"):
        raise ImproperlyConfigured("DATABASE_URL names no known database engine")
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db.setdefault("TEST", {})["NAME"] = envstr("TEST_DATABASE_NAME") or None
        if not _db["TEST"]["NAME"]:
            del _db["TEST"]["NAME"]
else:
    # The embedded default's database is this user's alone: var/ 0700, the file 0600.
    private_dir(VAR_DIR)
    _db = {
        # Django's SQLite backend with writers queueing on a file lock (see core/sqlite3/base.py).
        "ENGINE": "core.sqlite3",
        "NAME": private_file(VAR_DIR / "db.sqlite3"),
        # Keep each worker's connection open between requests: opening one (and running the
        # PRAGMAs below) costs more than the queries of a typical API call.
        "CONN_MAX_AGE": 0 if THREAD_PER_REQUEST else envint("DB_CONN_MAX_AGE", 600, minimum=0),
        "CONN_HEALTH_CHECKS": True,
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

# API tokens end after this many days without use (and at sign-out or a password change).
API_TOKEN_IDLE_DAYS = envint("API_TOKEN_IDLE_DAYS", 30, minimum=1)

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
AXES_CLIENT_IP_CALLABLE = "core.clientip.client_ip"

# One cache every worker and process shares (throttles, lock-outs' helpers, anything cached):
# Redis when CACHE_URL or REDIS_URL is set, else a table in the database (`createcachetable`,
# which bin/serve runs). Tests use memory unless CACHE_URL is set.
REDIS_URL = envstr("REDIS_URL") or None
_cache_url = envstr("CACHE_URL") or REDIS_URL
if _cache_url:
    if not _cache_url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured("CACHE_URL / REDIS_URL must be a redis://, rediss:// or unix:// URL")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": "consentsvc",
        }
    }
elif ENVIRONMENT == "test":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "consentsvc_cache"}}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static" if ENVIRONMENT != "test" else None  # tests collect nothing

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": VAR_DIR / "blobs",
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    },
    # Compressed, content-hashed names that whitenoise serves with a year's caching; needs
    # `collectstatic` (bin/serve runs it). Tests use the plain names.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if ENVIRONMENT == "test"
        else "consentsvc.staticfiles.StaticFilesStorage"
    },
}
# Static files straight from the app folders too when not collected (development, tests).
WHITENOISE_USE_FINDERS = not PRODUCTION
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
# crypto-shred. Plaintext never touches disk: a photo upload stays in memory up to the limit, a
# video is spooled encrypted (vault.uploads; the box spools it the same way: vault.video_box).
VAULT_MASTER_KEYS = envstr("VAULT_MASTER_KEYS")
VAULT_MAX_UPLOAD_BYTES = envint("VAULT_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1)
# The most pixels an uploaded image may declare; more is refused as a decompression bomb.
VAULT_MAX_IMAGE_PIXELS = envint("VAULT_MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
WITHDRAWAL_GRACE_DAYS = envint("WITHDRAWAL_GRACE_DAYS", 0, minimum=0)
# After a material notice change, how long a holder who has not agreed again keeps their library.
LAPSE_GRACE_DAYS = envint("LAPSE_GRACE_DAYS", 30, minimum=0)
TRASH_DAYS = envint("TRASH_DAYS", 30, minimum=1)  # a deleted photo can be restored this long
# Videos (vault.videos): the largest file and the longest clip taken, the most pixels a frame may
# have, and the box the parser runs in (a child process: CPU seconds, and the wall-clock seconds it
# may go without progress, plus a second per 25 MB of the file while it parses; address space).
VIDEO_MAX_BYTES = envint("VIDEO_MAX_BYTES", 2 * 1024**3, minimum=1)
VIDEO_MAX_SECONDS = envint("VIDEO_MAX_SECONDS", 600, minimum=1)
VIDEO_MAX_PIXELS = envint("VIDEO_MAX_PIXELS", 8192 * 4320, minimum=1)
VIDEO_PROBE_SECONDS = envint("VIDEO_PROBE_SECONDS", 60, minimum=1)
# A resumable upload not finished within this many hours is deleted (vault.partials).
UPLOAD_PARTIAL_HOURS = envint("UPLOAD_PARTIAL_HOURS", 24, minimum=1)
VIDEO_PROBE_MEMORY_BYTES = envint("VIDEO_PROBE_MEMORY_BYTES", 1024**3, minimum=64 * 1024**2)
# Keep one box started ahead per web process, its imports done (vault.videos._start_box); off in tests.
VIDEO_BOX_WARM = envbool("VIDEO_BOX_WARM", default=ENVIRONMENT != "test")
# vault.uploads' handler is the only one: photos in memory, videos spooled encrypted to
# FILE_UPLOAD_TEMP_DIR (None: the system's temporary directory). Django's own handlers and
# FILE_UPLOAD_MAX_MEMORY_SIZE (the bound past which they write plaintext to disk) are not used.
FILE_UPLOAD_HANDLERS = ["vault.uploads.MemoryOnlyUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = VAULT_MAX_UPLOAD_BYTES
FILE_UPLOAD_TEMP_DIR = envstr("FILE_UPLOAD_TEMP_DIR") or None
# Request limits: one photo per upload request (a few spare for forms), JSON bodies small and shallow.
DATA_UPLOAD_MAX_NUMBER_FILES = envint("DATA_UPLOAD_MAX_NUMBER_FILES", 10, minimum=1)
API_MAX_JSON_BYTES = envint("API_MAX_JSON_BYTES", 1024 * 1024, minimum=1024)
API_MAX_JSON_DEPTH = envint("API_MAX_JSON_DEPTH", 32, minimum=2)

# Background jobs through Django's tasks API (core/jobs.py): on the database by default
# (no broker; `manage.py jobs_worker` runs them), on Redis through RQ with TASKS_BACKEND=redis
# (REDIS_URL), or at once after commit with TASKS_BACKEND=immediate (the tests' default).
TASKS_BACKEND = envstr("TASKS_BACKEND") or ("immediate" if ENVIRONMENT == "test" else "database")
if TASKS_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_BACKEND == "redis":
    if not REDIS_URL:
        raise ImproperlyConfigured("TASKS_BACKEND=redis needs REDIS_URL")
    INSTALLED_APPS.append("django_rq")
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
elif TASKS_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
else:
    raise ImproperlyConfigured(f"TASKS_BACKEND={TASKS_BACKEND!r}: use database, redis or immediate")
HOUSEKEEPING_SECONDS = envint("HOUSEKEEPING_SECONDS", 600, minimum=10)
# Uploads in a burst start one generation pass, this long after the last of them.
SUGGESTIONS_DEBOUNCE_SECONDS = envint("SUGGESTIONS_DEBOUNCE_SECONDS", 60, minimum=0)
SUGGESTIONS_PER_PASS = envint("SUGGESTIONS_PER_PASS", 6, minimum=1)
SHARE_LINK_DAYS = envint("SHARE_LINK_DAYS", 7, minimum=1)  # how long a suggestion's share link works

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API call gets 401 with WWW-Authenticate.
        "accounts.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth_token": envstr("AUTH_TOKEN_RATE", "10/minute")},
    "NUM_PROXIES": 0,  # DRF's own address guess never trusts X-Forwarded-For; ours is core.clientip
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
    "POSTPROCESSING_HOOKS": ["core.api.schema.add_error_codes"],
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
# A signed checkpoint at most this long after any new event (the periodic audit.jobs.checkpoint).
AUDIT_CHECKPOINT_SECONDS = envint("AUDIT_CHECKPOINT_SECONDS", 10, minimum=1)

# The periodic jobs, each queued once per interval (seconds) by whichever job worker gets there
# first (core.jobs.periodic_due): crashed jobs taken back within a minute, the purges of
# housekeeping, and a signed audit checkpoint within AUDIT_CHECKPOINT_SECONDS of any new event.
JOBS_SCHEDULE = {
    "core.jobs.recover": 15,
    "consentsvc.housekeeping.housekeeping": HOUSEKEEPING_SECONDS,
    "audit.jobs.checkpoint": AUDIT_CHECKPOINT_SECONDS / 2,
}

# Witnesses whose cosignatures the audit trail accepts (C2SP tlog-cosignature), as note verifier
# keys <name>+<key id>+<base64(0x04 || Ed25519 public key)>, comma or newline separated.
AUDIT_WITNESSES = envlist("AUDIT_WITNESSES")
# Where audit entries are sequenced and integrated on PostgreSQL (audit.outbox): "outbox" (requests
# write MAC'd entries to a queue without a shared lock; a sequencer verifies and integrates them in
# batches after commit) or "inline" (in the request's transaction, under the head's lock, to its
# end). SQLite is always inline (its writer holds the write lock already). Tests run inline, so an
# event is readable in the transaction that wrote it; the race tests and tests/audit/test_outbox.py
# also run the queue.
AUDIT_SEQUENCER = envstr("AUDIT_SEQUENCER", "inline" if ENVIRONMENT == "test" else "outbox")
if AUDIT_SEQUENCER not in ("inline", "outbox"):
    raise ImproperlyConfigured(f"AUDIT_SEQUENCER={AUDIT_SEQUENCER!r}: use inline or outbox")
# With the outbox, integrate in a per-process background thread woken by each commit (a request's
# commit is then its only round trip), rather than in the committing request after its commit.
AUDIT_SEQUENCER_THREAD = envbool("AUDIT_SEQUENCER_THREAD", default=ENVIRONMENT != "test")

CONSENT_JURISDICTION = envstr("CONSENT_JURISDICTION", "EU")
CONSENT_RETENTION = envstr("CONSENT_RETENTION", "P6Y")

# Support cases grant an agent rights on one account for this long; holders'
# data exports wait (encrypted) this many days before they are deleted.
SUPPORT_CASE_HOURS = envint("SUPPORT_CASE_HOURS", 8, minimum=1)
SUPPORT_EXPORT_DAYS = envint("SUPPORT_EXPORT_DAYS", 7, minimum=1)

# Content-Security-Policy on every response: our own scripts and styles only (a per-response
# nonce for the few inline ones), no plugins, no framing, forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "media-src": [SELF, "blob:"],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Email (holders are told what support did): printed to the console in development, kept in memory by
# the test runner, sent over SMTP in production with the server from the environment.
EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "consentsvc <no-reply@localhost>")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")

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
