"""Reading settings from the environment: the one place that knows variable names and defaults.

Kept free of Django imports so it can be unit-tested and used before settings exist.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str, default: list[str]) -> list[str]:
    """Comma-separated IP addresses or networks (CIDR), each checked."""
    import ipaddress

    values = env_list(name, default)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {value!r} is not an IP address or network") from None
    return values


def env_int_list(name: str, default: list[int], *, length: int) -> tuple[int, ...]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return tuple(default)
    try:
        values = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not {length} comma-separated integers") from None
    if len(values) != length or min(values) < 1:
        raise ImproperlyConfigured(f"{name}={raw!r} must be {length} positive integers")
    return values


def env_path(name: str, default: Path, *, base: Path) -> Path:
    raw = os.environ.get(name)
    path = Path(raw).expanduser() if raw else default
    return path if path.is_absolute() else (base / path)


def secret_key(*, debug: bool, key_file: Path) -> str:
    """DJANGO_SECRET_KEY if set, else the installation's key file (made by `make run`, or here in
    debug mode). The file is shared by every process of one installation (web workers and the
    worker), so sessions and CSRF tokens stay valid across processes and restarts."""
    key = os.environ.get("DJANGO_SECRET_KEY", "").strip()
    if key:
        return key
    if key_file.exists():
        return key_file.read_text().strip()
    if not debug:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is not set and there is no key file {key_file}: `make run` creates one "
            "(or run `python -m sentiment_site.install`), or set DJANGO_SECRET_KEY (the same on every machine)."
        )
    return create_key_file(key_file)


def private_folder(path: Path) -> None:
    """A folder only its owner can enter (what an installation writes may hold secrets)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def create_key_file(key_file: Path) -> str:
    """The key in `key_file`, made once (mode 0600) if missing; safe when processes race."""
    private_folder(key_file.parent)
    if not key_file.exists():
        tmp = key_file.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            # link() fails if another process won the race; then we use its key.
            os.link(tmp, key_file)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key_file.chmod(0o600)
    return key_file.read_text().strip()


def database_from_url(url: str, *, conn_max_age: int = 60, pool_size: int = 0) -> dict[str, Any]:
    """Django DATABASES['default'] for a DATABASE_URL (sqlite:///path or postgres://...).

    SQLite gets WAL mode and IMMEDIATE transactions so a web process and the worker can
    write to one file without 'database is locked' errors on lock upgrades. PostgreSQL with
    `pool_size` gets psycopg's pool (Django's "pool" option): at most that many connections per
    process, shared by its threads, instead of one persistent connection per thread.
    """
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not understood: {exc}") from None
    engine = config["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["CONN_HEALTH_CHECKS"] = False
        options = config.setdefault("OPTIONS", {})
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
        options.setdefault(
            "init_command",
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        )
        if config.get("NAME") and config["NAME"] != ":memory:":
            # Tests get a file too (not Django's in-memory default), so the tests that start
            # gunicorn or a worker subprocess share the test database with them.
            # One file per test process, so two test runs on one machine never share it.
            config["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"sentiment-test-{os.getpid()}.sqlite3")}
    elif engine == "django.db.backends.postgresql":
        if pool_size:
            # Django refuses persistent connections beside a pool; the pool keeps them instead.
            config["CONN_MAX_AGE"] = 0
            config.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
    else:
        raise ImproperlyConfigured(f"DATABASE_URL names an unsupported database engine: {engine}")
    return config
