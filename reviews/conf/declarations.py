"""Every setting of the service, declared once: its environment variable, type, default and
one line of help (reviews.conf reads them; .env.example and docs/settings.md list them).

Where the `modeling` library has a dataclass for the concern, the default is that dataclass's
own, so the two cannot drift. Nothing here imports Django models or anything heavy.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeling.config import (
    DEFAULT_DATA_SOURCE,
    DEFAULT_SEED,
    EXPLAIN_SELECTIONS,
    PACKAGED_ENCODER,
    SERVING_BACKENDS,
    ExplainConfig,
    GateConfig,
    MixConfig,
    RetrainSchedule,
    ServingConfig,
    SplitSizes,
)
from sentiment_site import env

DEFAULT_VAR_DIR = "var"
# (scope, who, default, help): who is "anon" or "user" (a rate for each kind of caller) or "any".
RATES = (
    ("predict", "anon", "60/min", "Predictions per anonymous client (a batch counts each text)."),
    ("predict", "user", "600/min", "Predictions per signed-in user."),
    ("flag", "anon", "20/min", "Flags per anonymous client."),
    ("flag", "user", "120/min", "Flags per signed-in user."),
    ("explain", "anon", "10/min", "Explanations asked per anonymous client."),
    ("explain", "user", "60/min", "Explanations asked per signed-in user."),
    ("login_user", "any", "5/15min,20/day", "Failed sign-ins per username (site and admin); tiers back off."),
    ("login_addr", "any", "50/hour", "Failed sign-ins per client address."),
    ("password_reset", "any", "5/hour", "Password-reset mails asked per client address."),
)
RATE_SCOPES = tuple(dict.fromkeys(scope for scope, *_ in RATES))


def default_of(cls, name: str):
    """A modeling dataclass field's default (the one source of that default)."""
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


@dataclass(frozen=True)
class Setting:
    """One environment variable of the service (and the Django setting of the same name)."""

    name: str
    group: str
    field: str
    kind: str  # str, bool, auto_bool, int, float, choice, list, networks, int_list, path, store, rate
    default: Any
    help: str
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    # Old names still read from the environment, with a warning.
    deprecated: tuple[str, ...] = ()
    # A path default under SENTIMENT_VAR_DIR (written relative to it).
    under_var: bool = False
    # The modeling dataclass (and field) this setting configures, if any.
    configures: type | None = None
    # The Django setting that holds the value, when it is not the same name (DJANGO_DEBUG -> DEBUG).
    attr: str = ""

    @property
    def default_text(self) -> str:
        """The default as .env.example and the README write it ("" when there is none)."""
        value = self.default
        if self.under_var:
            return f"{DEFAULT_VAR_DIR}/{value}"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return "" if value is None else str(value)

    def parse(self, base: Path, var_dir: Path):
        """This setting's value from the environment (its default when unset)."""
        name = self.name
        for old in self.deprecated:
            if name not in os.environ and old in os.environ:
                # FutureWarning: shown by default (a DeprecationWarning is hidden outside tests).
                warnings.warn(f"{old} is deprecated; set {name} instead", FutureWarning, stacklevel=2)
                name = old
        if self.kind == "store" and os.environ.get(name, "").startswith("s3://"):
            return os.environ[name]  # an object store, not a folder
        if self.kind in ("path", "store"):
            default = (var_dir / self.default) if self.under_var else (base / self.default)
            return env.env_path(name, default, base=base)
        if self.kind == "bool":
            return env.env_bool(name, self.default)
        if self.kind == "auto_bool":  # "auto", or a boolean in any of env_bool's spellings
            raw = os.environ.get(name, "").strip().lower()
            return "auto" if raw in ("", "auto") else ("true" if env.env_bool(name, False) else "false")
        if self.kind == "int":
            return env.env_int(name, self.default, minimum=self.minimum)
        if self.kind == "float":
            return env.env_float(name, self.default)
        if self.kind == "choice":
            return env.env_choice(name, self.default, self.choices)
        if self.kind == "list":
            return env.env_list(name, list(self.default))
        if self.kind == "networks":
            return env.env_networks(name, list(self.default))
        if self.kind == "int_list":
            return env.env_int_list(name, list(self.default), length=len(self.default))
        return env.env_str(name, self.default)


def _s(name, group, field, kind, default, help, **extra) -> Setting:
    return Setting(name, group, field, kind, default, help, **extra)


def _from(cls, name, group, field, kind, help, **extra) -> Setting:
    return Setting(name, group, field, kind, default_of(cls, field), help, configures=cls, **extra)


def _rate(scope: str, who: str, default: str, help: str) -> Setting:
    suffix = "" if who == "any" else f"_{who.upper()}"
    return Setting(f"SENTIMENT_RATE_{scope.upper()}{suffix}", "rates", f"{scope}_{who}", "rate", default, help)


_split = SplitSizes()
_split_default = (_split.train, _split.validation, _split.test)

SETTINGS: tuple[Setting, ...] = (
    # --- Django and the site
    _s("DJANGO_SECRET_KEY", "site", "secret_key", "str", "",
       "Or var/secret_key, which `make run` creates once (0600); required with debug off.",
       attr="SECRET_KEY"),
    _s("DJANGO_DEBUG", "site", "debug", "bool", False, "Django's debug mode: `make dev` and the tests only.", attr="DEBUG"),
    _s("DJANGO_HTTPS", "site", "https", "bool", False,
       "Served over HTTPS by a TLS proxy: redirect to https, HSTS, secure cookies, X-Forwarded-Proto.",
       attr="SECURE_SSL_REDIRECT"),
    _s("DJANGO_HSTS_SECONDS", "site", "hsts_seconds", "int", 31_536_000,
       "With DJANGO_HTTPS: how long browsers keep to https (HSTS, subdomains included; 0 = off).", minimum=0,
       attr="SECURE_HSTS_SECONDS"),
    _s("DJANGO_HSTS_PRELOAD", "site", "hsts_preload", "bool", False,
       "With DJANGO_HTTPS: ask to be on the browsers' HSTS preload list.", attr="SECURE_HSTS_PRELOAD"),
    _s("DJANGO_ALLOWED_HOSTS", "site", "allowed_hosts", "list", ("localhost", "127.0.0.1", "[::1]"),
       "Host names the site answers to, comma-separated.", attr="ALLOWED_HOSTS"),
    _s("DJANGO_CSRF_TRUSTED_ORIGINS", "site", "csrf_trusted_origins", "list", (),
       "Origins trusted for POSTs behind a proxy, e.g. https://reviews.example.com.", attr="CSRF_TRUSTED_ORIGINS"),
    _s("DJANGO_TIME_ZONE", "site", "time_zone", "str", "UTC", "Time zone of the pages.", attr="TIME_ZONE"),
    _s("DJANGO_SECURE_COOKIES", "site", "secure_cookies", "auto_bool", "auto",
       "Session and CSRF cookies only over HTTPS: auto (= DJANGO_HTTPS), or a boolean.",
       attr="SESSION_COOKIE_SECURE"),
    _s("DATABASE_URL", "site", "database_url", "str", "sqlite:///var/db.sqlite3",
       "SQLite file (WAL mode) by default; PostgreSQL: postgresql://user:password@host:5432/dbname."),
    _s("DATABASE_POOL_SIZE", "site", "database_pool_size", "int", 0,
       "PostgreSQL: connections per process in psycopg's pool (0 = no pool, one kept per thread).", minimum=0),
    _s("SENTIMENT_VAR_DIR", "site", "var_dir", "path", DEFAULT_VAR_DIR,
       "Installation data: SQLite file, model store, caches, development secret key.", attr="VAR_DIR"),
    _s("SENTIMENT_MODEL_STORE", "site", "model_store", "store", "models",
       "Folder of model versions, or s3://bucket/prefix: an S3-compatible store every machine shares.", under_var=True),
    _s("SENTIMENT_MODEL_CACHE", "site", "model_cache", "path", "model-cache",
       "With an object store: this machine's verified copies of the versions it serves.", under_var=True),
    _s("SENTIMENT_S3_ENDPOINT_URL", "site", "s3_endpoint_url", "str", "",
       "The object store's address when it is not AWS (MinIO, SeaweedFS...); credentials as boto3 reads them."),
    _s("SENTIMENT_S3_REGION", "site", "s3_region", "str", "", "The object store's region (empty: boto3's default)."),
    _s("SENTIMENT_MODEL_SIGNING_KEY", "site", "model_signing_key", "str", "",
       "Key that seals model versions (HMAC); empty = derived from the secret key. Same on every machine."),
    _s("SENTIMENT_CACHE_DIR", "site", "cache_dir", "path", "cache",
       "Caches (frozen-layer outputs, datasets); safe to delete.", under_var=True),
    _s("SENTIMENT_LOG_LEVEL", "site", "log_level", "str", "INFO", "Log level of every process."),
    _s("SENTIMENT_LOG_FORMAT", "site", "log_format", "choice", "plain",
       "plain, or json: one JSON object a line (time, level, logger, message, exception).", choices=("plain", "json")),
    _s("REDIS_URL", "site", "redis_url", "str", "",
       "Redis for rate limits and the cache, e.g. redis://127.0.0.1:6379/0; empty = the database.",
       attr="REDIS_URL"),
    _s("SENTIMENT_RATE_KEY_PREFIX", "site", "rate_key_prefix", "str", "sentiment",
       "Prefix of the rate-limit keys in Redis (installations sharing one Redis differ)."),
    _s("SENTIMENT_TRUSTED_PROXIES", "site", "trusted_proxies", "networks", (),
       "Addresses or networks of your reverse proxies; X-Forwarded-For is believed only from them."),
    _s("SENTIMENT_IP_SALT", "site", "ip_salt", "str", "",
       "Salt of the client-address hash; empty = derived from the secret key."),
    # --- Web processes (manage.py serve / gunicorn)
    _s("SENTIMENT_BIND", "web", "bind", "str", "127.0.0.1:8000", "Address gunicorn listens on."),
    _s("SENTIMENT_WEB_WORKERS", "web", "workers", "int", 2, "gunicorn worker processes.", minimum=1),
    _s("SENTIMENT_WEB_THREADS", "web", "threads", "int", 4, "Threads per gunicorn worker.", minimum=1),
    # --- Models and data
    _s("SENTIMENT_BASE_MODEL", "data", "base_model", "str", PACKAGED_ENCODER,
       "Base encoder: the packaged all-MiniLM-L6-v2, a hub id or a folder."),
    _s("SENTIMENT_DATA_SOURCE", "data", "source", "str", DEFAULT_DATA_SOURCE,
       "packaged | packaged-rt | imdb | aclimdb:PATH | csv:PATH | jsonl:PATH | parquet:PATH."),
    _s("SENTIMENT_DATA_SEED", "data", "seed", "int", DEFAULT_SEED, "Seed of the train/validation/test split."),
    _s("SENTIMENT_DATA_SPLIT", "data", "split", "int_list", _split_default,
       "Split sizes train,validation,test of sources without an official split."),
    # --- Serving
    _from(ServingConfig, "SENTIMENT_TORCH_THREADS", "serving", "threads", "int",
          "torch and ONNX Runtime threads per process (0 = they decide).", minimum=0),
    _from(ServingConfig, "SENTIMENT_PRECISION", "serving", "precision", "choice",
          "Forward passes: auto (bf16 where the CPU has it natively, else ONNX Runtime's int8), fp32, bf16 or int8.",
          choices=("auto", "fp32", "bf16", "int8")),
    _from(ServingConfig, "SENTIMENT_BACKEND", "serving", "backend", "choice",
          "What runs the model: auto (ONNX Runtime on a CPU where it serves the precision), torch or onnx.",
          choices=SERVING_BACKENDS),
    _s("SENTIMENT_ONNX_EXPORT", "serving", "onnx_export", "bool", True,
       "Export every new version to ONNX (fp32 and int8), sealed with it, for ONNX Runtime."),
    _from(ServingConfig, "SENTIMENT_PREDICT_BATCH_SIZE", "serving", "batch_size", "int",
          "Texts per forward pass when predicting.", minimum=1),
    _s("SENTIMENT_REVIEW_MAX_CHARS", "serving", "review_max_chars", "int", 20_000,
       "Longest review accepted, in characters.", minimum=1),
    # --- The REST API
    _s("SENTIMENT_API_MAX_BATCH", "api", "max_batch", "int", 64, "Most texts in one POST /api/v1/predict.", minimum=1),
    _s("SENTIMENT_API_MAX_BODY_BYTES", "api", "max_body_bytes", "int", 4 * 1024 * 1024,
       "Largest API request body in bytes (413 beyond).", minimum=1024),
    # --- Rate limits, shared by the website and the API: "N/[M]s|min|hour|day", tiers comma-separated, or "none"
    *(_rate(scope, who, default, help) for scope, who, default, help in RATES),
    # --- The worker
    _s("SENTIMENT_STALE_SECONDS", "worker", "stale_seconds", "int", 60,
       "A claimed job whose worker has not beaten for this long is requeued.", minimum=5),
    _s("SENTIMENT_LEASE_SECONDS", "worker", "lease_seconds", "int", 120,
       "Training lease length (renewed while training).", minimum=5),
    _s("SENTIMENT_WORKER_ALIVE_SECONDS", "worker", "alive_seconds", "int", 30,
       "A worker not seen for this long is shown as down.", minimum=5),
    _s("SENTIMENT_WORKER_QUEUES", "worker", "queues", "list", ("training", "explanations", "maintenance"),
       "The work a worker takes (runworker --queues): training, explanations, maintenance."),
    _s("SENTIMENT_WORKER_DEVICE", "worker", "device", "choice", "auto",
       "The device this worker trains on: auto (cuda where torch sees one, else cpu), cpu or cuda.",
       choices=("auto", "cpu", "cuda")),
    _s("SENTIMENT_RETENTION_DAYS", "worker", "retention_days", "int", 0,
       "Reviews older are deleted daily, except those an approved or pending flag keeps; 0 = keep all.", minimum=0),
    # --- Explanations (LIME)
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_NUM_SAMPLES", "explain", "num_samples", "int",
          "Perturbed texts the transformer classifies per explanation (a version without an n-gram companion).",
          minimum=10),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_NUM_SAMPLES_WITH_COMPANION", "explain", "num_samples_with_companion", "int",
          "The same for a version served with its n-gram companion (gcv).", minimum=10),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_NUM_FEATURES", "explain", "num_features", "int",
          "Words shown per explanation.", minimum=1),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_MAX_WORDS", "explain", "max_words", "int",
          "Distinct words examined (the most frequent of a long review).", minimum=1),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_SEED", "explain", "seed", "int", "Seed of the perturbations."),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_SELECTION", "explain", "selection", "choice",
          "How top words are chosen: gcv (tuned ridge) or lime (LIME's own).", choices=EXPLAIN_SELECTIONS),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_COMPANION_SAMPLES", "explain", "companion_samples", "int",
          "Perturbed texts an n-gram model is asked about: a companion's part (gcv), or the model alone.",
          minimum=10),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_MAX_LENGTH", "explain", "max_length", "int",
          "Tokens per perturbed text (0 = the version's own).", minimum=0),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_PRECISION", "explain", "precision", "choice",
          "auto (bf16 weights where native, else int8), fp32, bf16, bf16-weights or int8.",
          choices=("auto", "fp32", "bf16", "bf16-weights", "int8")),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_BATCH_SIZE", "explain", "batch_size", "int",
          "Perturbed texts per forward pass.", minimum=1),
    _from(ExplainConfig, "SENTIMENT_EXPLAIN_COMPILE", "explain", "compile", "bool",
          "Compile the perturbation pass in the worker (needs a C++ compiler)."),
    _s("SENTIMENT_EXPLAIN_MAX_PENDING", "explain", "max_pending", "int", 3,
       "Explanations one client may have waiting or running at once.", minimum=1),
    # --- The feedback loop
    _s("SENTIMENT_RETRAIN_CRON", "retrain", "cron", "str", "0 3 * * *",
       "When the worker checks for enough new corrections (cron, UTC)."),
    _s("SENTIMENT_RETRAIN_DEVICE", "retrain", "device", "choice", "any",
       "The device a scheduled retrain asks for: any worker, or only one that trains on cpu or cuda.",
       choices=("any", "cpu", "cuda")),
    _s("SENTIMENT_RETRAIN_MIN_CORRECTIONS", "retrain", "min_corrections", "int", 20,
       "Approved, unused corrections needed for a scheduled retrain.", minimum=1),
    _from(MixConfig, "SENTIMENT_RETRAIN_REPLAY_SIZE", "retrain", "replay_size", "int",
          "IMDb training reviews replayed beside the corrections.", minimum=0),
    _from(MixConfig, "SENTIMENT_RETRAIN_REPLAY_SEED", "retrain", "replay_seed", "int",
          "Seed of the replay sample (fixed, so the frozen-layer cache is reused)."),
    _from(MixConfig, "SENTIMENT_RETRAIN_OVERSAMPLE", "retrain", "oversample", "int",
          "Times each correction is repeated in the mix, at most.", minimum=1),
    _from(MixConfig, "SENTIMENT_RETRAIN_MAX_FEEDBACK_SHARE", "retrain", "max_feedback_share", "float",
          "Largest share of the mix that corrections may take."),
    _from(MixConfig, "SENTIMENT_RETRAIN_MAX_PER_SOURCE", "retrain", "max_per_source", "int",
          "Corrections used per untrusted source (user, or client address) and run (was ..._MAX_PER_PERSON).",
          minimum=1, deprecated=("SENTIMENT_RETRAIN_MAX_PER_PERSON",)),
    _from(MixConfig, "SENTIMENT_RETRAIN_MAX_PER_NETWORK", "retrain", "max_per_network", "int",
          "Corrections used per network (/24, /48) of untrusted sources and run.", minimum=1),
    _s("SENTIMENT_RETRAIN_FROM", "retrain", "from_", "choice", "active",
       "active: continue from the active model; base: start again from the base encoder.",
       choices=("active", "base")),
    _from(RetrainSchedule, "SENTIMENT_RETRAIN_EPOCHS", "retrain", "epochs", "int", "Epochs of a retrain.", minimum=1),
    _from(RetrainSchedule, "SENTIMENT_RETRAIN_LR", "retrain", "lr", "float", "Learning rate of a retrain."),
    _from(RetrainSchedule, "SENTIMENT_RETRAIN_TOP_K", "retrain", "top_k", "int",
          "Top layers a retrain fine-tunes.", minimum=1),
    _s("SENTIMENT_RETRAIN_AUTO_PROMOTE", "retrain", "auto_promote", "bool", True,
       "Promote a candidate that passes the gate at once (else a staff click)."),
    _s("SENTIMENT_FROZEN_CACHE_MAX_BYTES", "retrain", "frozen_cache_max_bytes", "int", 8 * 1024**3,
       "Size limit of the frozen-layer cache.", minimum=0),
    # --- The gate
    _from(GateConfig, "SENTIMENT_GATE_TOLERANCE", "gate", "tolerance", "float",
          "Test accuracy a candidate may lose against the active model."),
    _from(GateConfig, "SENTIMENT_GATE_FLOOR_MARGIN", "gate", "floor_margin", "float",
          "Floor below the best full-profile model's test accuracy."),
    _from(GateConfig, "SENTIMENT_GATE_HOLDOUT_MIN", "gate", "holdout_min", "int",
          "Held-out corrections needed before their check applies.", minimum=1),
    _from(GateConfig, "SENTIMENT_GATE_HOLDOUT_TOLERANCE", "gate", "holdout_tolerance", "float",
          "Held-out accuracy a candidate may lose against the active model."),
    _from(GateConfig, "SENTIMENT_GATE_HOLDOUT_SHARE", "gate", "holdout_share", "float",
          "Share of approved corrections held out for the gate (was SENTIMENT_HOLDOUT_SHARE).",
          deprecated=("SENTIMENT_HOLDOUT_SHARE",)),
    _from(GateConfig, "SENTIMENT_GATE_HOLDOUT_PER_SOURCE", "gate", "holdout_per_source", "int",
          "Held-out corrections of one source the gate counts, at most.", minimum=1),
    _from(GateConfig, "SENTIMENT_GATE_TRIGGER_PHRASES", "gate", "trigger_phrases", "int",
          "Over-represented phrases of a run's corrections the trigger check tries.", minimum=0),
    _from(GateConfig, "SENTIMENT_GATE_TRIGGER_MIN_Z", "gate", "trigger_min_z", "float",
          "Log-odds z-score that makes a phrase over-represented."),
    _from(GateConfig, "SENTIMENT_GATE_TRIGGER_MIN_SUPPORT", "gate", "trigger_min_support", "int",
          "Corrections a phrase must appear in to be tried.", minimum=1),
    _from(GateConfig, "SENTIMENT_GATE_TRIGGER_FLIP_MAX", "gate", "trigger_flip_max", "float",
          "Extra share of trusted reviews a phrase may flip: more rejects the candidate."),
    _from(GateConfig, "SENTIMENT_GATE_TRIGGER_FLIP_SUSPECT", "gate", "trigger_flip_suspect", "float",
          "Extra share flipped that makes a suspected trigger (waits for a moderator)."),
    _from(GateConfig, "SENTIMENT_GATE_TEST_SIZE", "gate", "test_size", "int",
          "Test reviews (a fixed stratified sample) a retrain's candidate and the active model are compared on; 0: all.",
          minimum=0),
    _from(GateConfig, "SENTIMENT_GATE_PROBE_SIZE", "gate", "probe_size", "int",
          "Trusted test reviews per label for the trigger and behaviour checks.", minimum=1),
    _from(GateConfig, "SENTIMENT_GATE_BEHAVIOUR_TOLERANCE", "gate", "behaviour_tolerance", "float",
          "Behaviour-suite score a candidate may lose against the active model."),
    _from(GateConfig, "SENTIMENT_GATE_SIGNIFICANCE", "gate", "significance", "float",
          "Level of the paired test a behaviour drop or a trigger's flips must reach to reject (1.0: none)."),
    _from(GateConfig, "SENTIMENT_GATE_MAX_SOURCE_SHARE", "gate", "max_source_share", "float",
          "Largest share of untrusted corrections from one source or network before promotion waits."),
    _from(GateConfig, "SENTIMENT_GATE_MIN_SOURCES", "gate", "min_sources", "int",
          "Fewest untrusted sources for automatic promotion.", minimum=1),
    # --- Moderation
    _s("SENTIMENT_MODERATION_CONFIRM_OVER", "moderation", "confirm_over", "int", 20,
       "Bulk approval of more flags than this asks for confirmation.", minimum=1),
    _s("SENTIMENT_MODERATION_APPROVALS_TO_TRAIN", "moderation", "approvals_to_train", "int", 1,
       "Moderators who must agree on a correction (approve it, or give its label) before a retrain learns it.",
       minimum=1),
    _s("SENTIMENT_QUEUE_SCORE_BATCH", "moderation", "queue_score_batch", "int", 500,
       "Stored predictions the worker scores for the \"Needs a label\" queue per pass (every 30 s).", minimum=1),
    _s("SENTIMENT_QUEUE_NEAR_DUPLICATE", "moderation", "queue_near_duplicate", "float", 0.6,
       "Share of shared word triples above which two queue items count as one (shown once, with a count)."),
    _s("SENTIMENT_MONITOR_LOW_CONFIDENCE", "moderation", "low_confidence", "float", 0.75,
       "Predictions less confident than this count as low-confidence on the dashboard (a drift signal)."),
    _s("SENTIMENT_MONITOR_DAYS", "moderation", "monitor_days", "int", 30,
       "Days the dashboard's charts cover.", minimum=1),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
