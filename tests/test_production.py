"""Production by default (issue 18, reproduction 1): debug off unless asked for, a secret key kept
private, and a documented HTTPS profile that `check --deploy` finds nothing wrong with."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEY = "k3y-" + "x7Qp2vLm9Zr4Tn8Wb6Yc1Hd5Jf0Gs3Ke" * 2
# The production profile the README documents (besides DATABASE_URL and a real host name).
PROFILE = {"DJANGO_DEBUG": "false", "DJANGO_HTTPS": "true", "DJANGO_HSTS_PRELOAD": "true",
           "DJANGO_SECRET_KEY": KEY, "DJANGO_ALLOWED_HOSTS": "reviews.example.com"}


def run(args, tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SENTIMENT_"))}
    environment = {**base, "SENTIMENT_VAR_DIR": str(tmp_path / "var"),
                   "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", **env}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)


def setting(name: str, tmp_path, **env) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    result = run(["-c", code], tmp_path, DJANGO_SETTINGS_MODULE="sentiment_site.settings", **env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_debug_is_off_unless_asked_for(tmp_path):
    """With no DJANGO_DEBUG the site runs with debug off (before: on, so gunicorn showed Django's
    debug pages, DATABASE_URL and its password included)."""
    assert setting("DEBUG", tmp_path, DJANGO_SECRET_KEY=KEY) == "False"
    assert setting("DEBUG", tmp_path, DJANGO_SECRET_KEY=KEY, DJANGO_DEBUG="true") == "True"


def test_without_debug_a_secret_key_is_required(tmp_path):
    """Debug off, no DJANGO_SECRET_KEY and no key file: the processes refuse to start, saying how."""
    result = run(["manage.py", "check"], tmp_path)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr and "make run" in result.stderr


def test_the_installation_key_is_private_and_made_once(tmp_path):
    """`python -m sentiment_site.install` (what make run does first) makes var/ 0700 and
    var/secret_key 0600, keeps the key on later runs, and the site then starts with it."""
    assert run(["-m", "sentiment_site.install"], tmp_path).returncode == 0
    var, key = tmp_path / "var", tmp_path / "var" / "secret_key"
    first = key.read_text()
    assert stat.S_IMODE(var.stat().st_mode) == 0o700 and stat.S_IMODE(key.stat().st_mode) == 0o600
    var.chmod(0o755)
    key.chmod(0o644)
    assert run(["-m", "sentiment_site.install"], tmp_path).returncode == 0
    assert key.read_text() == first and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    assert run(["manage.py", "check"], tmp_path).returncode == 0


@pytest.mark.slow
def test_the_production_profile_passes_check_deploy(tmp_path):
    """Under the documented production profile `manage.py check --deploy` reports nothing."""
    result = run(["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], tmp_path, **PROFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


def test_the_https_profile_sets_the_headers(tmp_path):
    """Behind the TLS proxy: HSTS, redirect to https, secure cookies, the proxy's https header."""
    values = {name: setting(name, tmp_path, **PROFILE) for name in (
        "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER")}
    assert values == {"SECURE_HSTS_SECONDS": "31536000", "SECURE_SSL_REDIRECT": "True", "SESSION_COOKIE_SECURE": "True",
                      "CSRF_COOKIE_SECURE": "True", "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')"}
