"""Django settings. Every value that differs between machines comes from the environment
(see .env.example for the documented list and defaults); nothing heavy is imported here."""

from pathlib import Path

from sentiment_site.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_int_list,
    env_list,
    env_path,
    env_str,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# Everything an installation writes (SQLite file, model store, caches, dev secret key).
VAR_DIR = env_path("SENTIMENT_VAR_DIR", BASE_DIR / "var", base=BASE_DIR)

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = secret_key(debug=DEBUG, key_file=VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

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
    # Under /api/: refuses oversized bodies early and answers every error in the API's JSON shape.
    "reviews.api_errors.ApiErrorMiddleware",
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

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": database_from_url(DATABASE_URL)}
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
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
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

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("SENTIMENT_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- The REST API (reviews/api.py) -----------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous caller of a staff endpoint gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_PARSER_CLASSES": ["reviews.api_errors.JSONBodyParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["reviews.api_throttles.SharedLimiterThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "reviews.api_errors.exception_handler",
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
    },
    "PATH_CONVERTER_OVERRIDES": {
        "dbid": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999},
        "versionid": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "maxLength": 64},
    },
}

# --- The product's own settings -------------------------------------------------------------
# Folder of registry versions (one sub-folder per model version).
SENTIMENT_MODEL_STORE = env_path("SENTIMENT_MODEL_STORE", VAR_DIR / "models", base=BASE_DIR)
# Caches (frozen-layer outputs, dataset downloads) that can be deleted at any time.
SENTIMENT_CACHE_DIR = env_path("SENTIMENT_CACHE_DIR", VAR_DIR / "cache", base=BASE_DIR)
# Base encoder: "all-MiniLM-L6-v2" is the packaged offline encoder; any hub id or local folder
# works too, e.g. "distilbert-base-uncased" where the Hugging Face hub is reachable.
SENTIMENT_BASE_MODEL = env_str("SENTIMENT_BASE_MODEL", "all-MiniLM-L6-v2")
# Training/evaluation data: packaged | packaged-rt | imdb | aclimdb:PATH | csv:PATH | jsonl:PATH | parquet:PATH
SENTIMENT_DATA_SOURCE = env_str("SENTIMENT_DATA_SOURCE", "packaged")
SENTIMENT_DATA_SEED = env_int("SENTIMENT_DATA_SEED", 42)
# torch intra-op threads per process; 0 lets torch decide.
SENTIMENT_TORCH_THREADS = env_int("SENTIMENT_TORCH_THREADS", 0, minimum=0)
# Forward-pass precision when predicting and explaining: auto = bf16 where the CPU has it natively
# (AVX512-BF16/AMX: forward passes about 2.2x faster), else fp32 (modeling/precision.py).
SENTIMENT_PRECISION = env_choice("SENTIMENT_PRECISION", "auto", ("auto", "fp32", "bf16"))
# Longest review accepted, in characters.
SENTIMENT_REVIEW_MAX_CHARS = env_int("SENTIMENT_REVIEW_MAX_CHARS", 20_000, minimum=1)
# Texts per forward pass when predicting.
SENTIMENT_PREDICT_BATCH_SIZE = env_int("SENTIMENT_PREDICT_BATCH_SIZE", 32, minimum=1)
# Most texts in one POST /api/v1/predict.
SENTIMENT_API_MAX_BATCH = env_int("SENTIMENT_API_MAX_BATCH", 64, minimum=1)
# Largest API request body, in bytes (413 beyond); room for a full batch of the longest reviews.
SENTIMENT_API_MAX_BODY_BYTES = env_int("SENTIMENT_API_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1024)
# Salt for hashing client IPs (never stored in clear); defaults to one derived from SECRET_KEY.
SENTIMENT_IP_SALT = env_str("SENTIMENT_IP_SALT", "")
# Rate limits shared by the website and the API ("N/s|min|hour|day"; "none" = unlimited).
SENTIMENT_RATES = {
    "predict": {
        "anon": env_str("SENTIMENT_RATE_PREDICT_ANON", "60/min"),
        "user": env_str("SENTIMENT_RATE_PREDICT_USER", "600/min"),
    },
    "flag": {
        "anon": env_str("SENTIMENT_RATE_FLAG_ANON", "20/min"),
        "user": env_str("SENTIMENT_RATE_FLAG_USER", "120/min"),
    },
    "explain": {
        "anon": env_str("SENTIMENT_RATE_EXPLAIN_ANON", "10/min"),
        "user": env_str("SENTIMENT_RATE_EXPLAIN_USER", "60/min"),
    },
}
SENTIMENT_RATE_CACHE = "default"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "sentiment_cache",
    }
}
# --- The worker ---
# A claimed row whose worker has not beaten for this long is requeued.
SENTIMENT_STALE_SECONDS = env_int("SENTIMENT_STALE_SECONDS", 60, minimum=5)
# Length of the training lease (renewed while training); a crashed holder's lease lapses after it.
SENTIMENT_LEASE_SECONDS = env_int("SENTIMENT_LEASE_SECONDS", 120, minimum=5)
# A worker not seen for this long is reported as down.
SENTIMENT_WORKER_ALIVE_SECONDS = env_int("SENTIMENT_WORKER_ALIVE_SECONDS", 30, minimum=5)
# Web server: gunicorn worker processes for `make run`.
SENTIMENT_WEB_WORKERS = env_int("SENTIMENT_WEB_WORKERS", 2, minimum=1)
# --- Explanations (LIME); defaults chosen by benchmarks/explain.py, see the README ---
SENTIMENT_EXPLAIN_NUM_SAMPLES = env_int("SENTIMENT_EXPLAIN_NUM_SAMPLES", 500, minimum=10)
SENTIMENT_EXPLAIN_NUM_FEATURES = env_int("SENTIMENT_EXPLAIN_NUM_FEATURES", 10, minimum=1)
SENTIMENT_EXPLAIN_MAX_WORDS = env_int("SENTIMENT_EXPLAIN_MAX_WORDS", 200, minimum=1)
SENTIMENT_EXPLAIN_SEED = env_int("SENTIMENT_EXPLAIN_SEED", 0)
# How the top words are chosen from the samples: gcv = a ridge fit whose penalty generalized
# cross-validation tunes (agrees better with LIME at 5,000 samples); lime = LIME's own choice.
SENTIMENT_EXPLAIN_SELECTION = env_choice("SENTIMENT_EXPLAIN_SELECTION", "gcv", ("gcv", "lime"))
# Tokens per perturbed text (0 = the version's own max_length).
SENTIMENT_EXPLAIN_MAX_LENGTH = env_int("SENTIMENT_EXPLAIN_MAX_LENGTH", 0, minimum=0)
# How perturbations are classified: auto = a copy of the model with bf16 weights where the CPU has
# bf16 natively, else an int8 copy (about twice as fast as fp32 there); or fp32, bf16 (autocast, as
# served), bf16-weights, int8.
SENTIMENT_EXPLAIN_PRECISION = env_choice("SENTIMENT_EXPLAIN_PRECISION", "auto", ("auto", "fp32", "bf16", "bf16-weights", "int8"))
# Perturbed texts per forward pass: 32 takes ~0.8 of the time of 64 with bf16 weights on an AMX
# Xeon (benchmarks/explain.py; the README lists the sizes measured).
SENTIMENT_EXPLAIN_BATCH_SIZE = env_int("SENTIMENT_EXPLAIN_BATCH_SIZE", 32, minimum=1)
# Compile the perturbation pass (torch.compile, weights frozen; 20-30 s in a worker thread per loaded
# version, eager meanwhile): 0.87 of the time per explanation on an AMX Xeon. Needs a C++ compiler;
# without one the pass stays eager.
SENTIMENT_EXPLAIN_COMPILE = env_bool("SENTIMENT_EXPLAIN_COMPILE", True)
# --- The feedback loop (retraining on approved corrections) ---
# When the worker checks for enough new corrections (cron: minute hour day month weekday).
SENTIMENT_RETRAIN_CRON = env_str("SENTIMENT_RETRAIN_CRON", "0 3 * * *")
# Approved, unused training corrections needed before a scheduled retrain runs.
SENTIMENT_RETRAIN_MIN_CORRECTIONS = env_int("SENTIMENT_RETRAIN_MIN_CORRECTIONS", 20, minimum=1)
# IMDb training reviews replayed beside the corrections (never validation or test).
SENTIMENT_RETRAIN_REPLAY_SIZE = env_int("SENTIMENT_RETRAIN_REPLAY_SIZE", 2000, minimum=0)
SENTIMENT_RETRAIN_OVERSAMPLE = env_int("SENTIMENT_RETRAIN_OVERSAMPLE", 4, minimum=1)
SENTIMENT_RETRAIN_MAX_FEEDBACK_SHARE = env_float("SENTIMENT_RETRAIN_MAX_FEEDBACK_SHARE", 0.3)
SENTIMENT_RETRAIN_MAX_PER_PERSON = env_int("SENTIMENT_RETRAIN_MAX_PER_PERSON", 10, minimum=1)
# "active": continue from the active model; "base": start again from SENTIMENT_BASE_MODEL.
SENTIMENT_RETRAIN_FROM = env_str("SENTIMENT_RETRAIN_FROM", "active")
SENTIMENT_RETRAIN_EPOCHS = env_int("SENTIMENT_RETRAIN_EPOCHS", 1, minimum=1)
SENTIMENT_RETRAIN_LR = env_float("SENTIMENT_RETRAIN_LR", 3e-5)
SENTIMENT_RETRAIN_TOP_K = env_int("SENTIMENT_RETRAIN_TOP_K", 2, minimum=1)
# Share of approved corrections set aside (deterministically) as evaluation data.
SENTIMENT_HOLDOUT_SHARE = env_float("SENTIMENT_HOLDOUT_SHARE", 0.2)
# The gate: tolerance below the active model, floor below the best full model, held-out checks.
SENTIMENT_GATE_TOLERANCE = env_float("SENTIMENT_GATE_TOLERANCE", 0.005)
SENTIMENT_GATE_FLOOR_MARGIN = env_float("SENTIMENT_GATE_FLOOR_MARGIN", 0.01)
SENTIMENT_GATE_HOLDOUT_MIN = env_int("SENTIMENT_GATE_HOLDOUT_MIN", 10, minimum=1)
SENTIMENT_GATE_HOLDOUT_MARGIN = env_float("SENTIMENT_GATE_HOLDOUT_MARGIN", 0.05)
# Promote a candidate that passes the gate at once, or wait for a staff click.
SENTIMENT_RETRAIN_AUTO_PROMOTE = env_bool("SENTIMENT_RETRAIN_AUTO_PROMOTE", True)
# Split sizes "train,validation,test" for sources without an official split (packaged); the
# hub's imdb and aclimdb:PATH use the validation size to carve validation out of train.
SENTIMENT_DATA_SPLIT = env_int_list("SENTIMENT_DATA_SPLIT", [18000, 2000, 5000], length=3)
# Seed of the IMDb replay sample: fixed, so retrains reuse the frozen-layer cache.
SENTIMENT_RETRAIN_REPLAY_SEED = env_int("SENTIMENT_RETRAIN_REPLAY_SEED", 0)
# Size limit of the frozen-layer cache (fp16 states, least recently used evicted first).
SENTIMENT_FROZEN_CACHE_MAX_BYTES = env_int("SENTIMENT_FROZEN_CACHE_MAX_BYTES", 8 * 1024**3, minimum=0)
