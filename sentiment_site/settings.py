"""Django settings. Every value that differs between machines comes from the environment
(see .env.example for the documented list and defaults); nothing heavy is imported here."""

from pathlib import Path

from sentiment_site.env import (
    database_from_url,
    env_bool,
    env_int,
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
    "reviews.apps.ReviewsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
# Longest review accepted, in characters.
SENTIMENT_REVIEW_MAX_CHARS = env_int("SENTIMENT_REVIEW_MAX_CHARS", 20_000, minimum=1)
# Texts per forward pass when predicting.
SENTIMENT_PREDICT_BATCH_SIZE = env_int("SENTIMENT_PREDICT_BATCH_SIZE", 32, minimum=1)
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
}
SENTIMENT_RATE_CACHE = "default"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "sentiment_cache",
    }
}
