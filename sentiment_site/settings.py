"""Django settings. Every value that differs between machines comes from the environment: the
service's own variables are declared once, with their types, defaults and help, in reviews/conf/declarations.py
(.env.example and the README's table list the same); nothing heavy is imported here."""

from pathlib import Path

from reviews.conf import from_environment
from sentiment_site.env import database_from_url, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = from_environment(BASE_DIR)

# Everything an installation writes (SQLite file, model store, caches, dev secret key).
VAR_DIR = ENV["SENTIMENT_VAR_DIR"]

DEBUG = ENV["DJANGO_DEBUG"]
SECRET_KEY = secret_key(debug=DEBUG, key_file=VAR_DIR / "secret_key")
ALLOWED_HOSTS = ENV["DJANGO_ALLOWED_HOSTS"]
CSRF_TRUSTED_ORIGINS = ENV["DJANGO_CSRF_TRUSTED_ORIGINS"]

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
    "reviews.apps.ReviewsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "sentiment_site.middleware.ContentSecurityPolicyMiddleware",
    # Under /api/: refuses oversized bodies early and answers every error in the API's JSON shape.
    "reviews.api.errors.ApiErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sentiment_site.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "sentiment_site.wsgi.application"
ASGI_APPLICATION = "sentiment_site.asgi.application"

DATABASE_URL = ENV["DATABASE_URL"]
DATABASES = {"default": database_from_url(DATABASE_URL, pool_size=ENV["DATABASE_POOL_SIZE"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = ENV["DJANGO_TIME_ZONE"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security headers; the HTTPS profile is for a TLS proxy in front of gunicorn -------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
HTTPS = ENV["DJANGO_HTTPS"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = {"auto": HTTPS, "true": True, "false": False}[ENV["DJANGO_SECURE_COOKIES"]]
if HTTPS:
    # The proxy must set X-Forwarded-Proto itself (overwriting what a client sent).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # A load balancer's probe may speak plain HTTP to the health endpoint.
    SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
    SECURE_HSTS_SECONDS = ENV["DJANGO_HSTS_SECONDS"]
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = ENV["DJANGO_HSTS_PRELOAD"]
# The site's own assets only (sentiment_site/middleware.py); inline style attributes are allowed
# (confidence bars, explanation strengths), inline scripts are not.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "sentiment_site.logs.JsonFormatter"},
    },
    "filters": {"busy_job_skips": {"()": "sentiment_site.logs.BusyJobSkips"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": ENV["SENTIMENT_LOG_FORMAT"]}},
    "root": {"handlers": ["console"], "level": ENV["SENTIMENT_LOG_LEVEL"]},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # APScheduler says "Running job ..." and "... executed successfully" at INFO on every
        # tick (several a second): shown only when debugging. The worker logs the work itself.
        "apscheduler": {"level": "DEBUG" if ENV["SENTIMENT_LOG_LEVEL"].upper() == "DEBUG" else "WARNING"},
        "apscheduler.scheduler": {"filters": ["busy_job_skips"]},
    },
}

# --- The REST API (reviews/api/) -----------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous caller of a staff endpoint gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["reviews.api.permissions.StaffPermission"],
    "DEFAULT_PARSER_CLASSES": ["reviews.api.parsers.JSONBodyParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["reviews.api.throttles.SharedLimiterThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "reviews.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Review sentiment API",
    "DESCRIPTION": (
        "Classify movie reviews, keep them, flag wrong predictions, and (staff) review flags and "
        "manage model versions. Authenticate with a session or with `Authorization: Token KEY` "
        "(`manage.py api_token USERNAME`). Every error has the shape "
        '`{"error": {"code": ..., "message": ..., "fields": {...}}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The docs' assets come from drf-spectacular-sidecar, served as static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "LabelEnum": "reviews.models.Label",
        "FeedbackStatusEnum": "reviews.models.Feedback.Status",
        "ModelVersionStatusEnum": "reviews.models.ModelVersion.Status",
        "ModelVersionKindEnum": "reviews.models.ModelVersion.Kind",
        "FeedbackKindEnum": "reviews.models.Feedback.Kind",
    },
    "PATH_CONVERTER_OVERRIDES": {
        "dbid": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999},
        "versionid": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "maxLength": 64},
    },
}

# --- The product's own settings -------------------------------------------------------------
# SENTIMENT_MODEL_STORE, SENTIMENT_EXPLAIN_NUM_SAMPLES, ...: every one declared in reviews/conf/declarations.py
# and read grouped through `reviews.conf.conf`; SENTIMENT_RATES is the six SENTIMENT_RATE_* as
# {scope: {"anon": rate, "user": rate}}.
globals().update({name: value for name, value in ENV.items() if name.startswith("SENTIMENT_")})

# Redis, when there is one, is the cache and holds the rate limits (reviews/ratelimit.py); else
# the rate limits count in the database and the cache is the database's.
REDIS_URL = ENV["REDIS_URL"]
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "sentiment_cache"}
    )
}
del ENV
