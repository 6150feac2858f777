import pytest
from django.core.exceptions import ImproperlyConfigured

from sentiment_site.env import database_from_url, env_bool, env_choice, secret_key


def test_sqlite_url_gets_wal_and_immediate_transactions(tmp_path):
    """A sqlite:/// URL maps to the SQLite engine with WAL and IMMEDIATE transactions."""
    db = database_from_url(f"sqlite:///{tmp_path}/db.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == f"{tmp_path}/db.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_postgres_url_is_parsed():
    """A postgres:// URL maps to host, port, user and database name."""
    db = database_from_url("postgres://app:secret@db.internal:5433/sentiment")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["USER"], db["PASSWORD"], db["NAME"]) == (
        "db.internal", 5433, "app", "secret", "sentiment")


def test_unsupported_database_is_refused():
    """An engine the product does not support is a configuration error."""
    with pytest.raises(ImproperlyConfigured, match="unsupported"):
        database_from_url("mysql://root@localhost/x")


def test_secret_key_required_in_production(tmp_path, monkeypatch):
    """Without DEBUG a missing DJANGO_SECRET_KEY is an error; in development one is generated once."""
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        secret_key(debug=False, key_file=tmp_path / "key")
    first = secret_key(debug=True, key_file=tmp_path / "key")
    assert len(first) > 40 and secret_key(debug=True, key_file=tmp_path / "key") == first


def test_bad_boolean_is_refused(monkeypatch):
    """A boolean variable with a value like 'maybe' is refused with its name."""
    monkeypatch.setenv("DJANGO_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG"):
        env_bool("DJANGO_DEBUG", True)


def test_bad_choice_is_refused_and_case_is_ignored(monkeypatch):
    """A setting with a fixed set of values names the choices when given another."""
    monkeypatch.setenv("SENTIMENT_PRECISION", "BF16")
    assert env_choice("SENTIMENT_PRECISION", "auto", ("auto", "fp32", "bf16")) == "bf16"
    monkeypatch.setenv("SENTIMENT_PRECISION", "half")
    with pytest.raises(ImproperlyConfigured, match="auto, fp32, bf16"):
        env_choice("SENTIMENT_PRECISION", "auto", ("auto", "fp32", "bf16"))
