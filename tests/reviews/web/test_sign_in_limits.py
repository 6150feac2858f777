"""Password guessing is limited per username and per address, on the site's and the admin's
sign-in (issue 18, reproduction 4); a refused attempt costs no password hashing."""

import pytest
from django.contrib.auth import forms as auth_forms

pytestmark = pytest.mark.django_db

RIGHT = "pw-staff-123"


@pytest.fixture
def login_limits(settings):
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "login_user": {"anon": "5/15min,20/day", "user": ""},
                                "login_addr": {"anon": "50/hour", "user": ""}}


def sign_in(client, url, username, password, addr="198.51.100.4"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=addr)


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_twenty_wrong_passwords_then_the_right_one_does_not_sign_in(client, staff, url, login_limits):
    """After 5 wrong passwords for one username the right one is refused too, with a message
    saying how long to wait (before, the 21st try signed in)."""
    for _ in range(20):
        sign_in(client, url, "staff", "wrong")
    response = sign_in(client, url, "staff", RIGHT)
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "Too many sign-in attempts" in response.content.decode()


def test_a_refused_attempt_does_not_hash_the_password(client, staff, login_limits, monkeypatch):
    """Once the username's budget is spent, attempts are answered without checking the password."""
    calls = []
    real = auth_forms.authenticate
    monkeypatch.setattr(auth_forms, "authenticate", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(12):
        sign_in(client, "/accounts/login/", "staff", "wrong")
    assert len(calls) == 5


def test_the_right_password_does_not_use_up_the_budget(client, staff, login_limits):
    """Signing in successfully counts nothing: a user who signs in often is never locked out."""
    for _ in range(8):
        assert sign_in(client, "/accounts/login/", "staff", RIGHT).status_code == 302
        client.logout()


def test_one_address_guessing_many_usernames_is_limited(client, django_user_model, settings, login_limits):
    """Spreading guesses over usernames does not help: the address has its own budget."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "login_addr": {"anon": "3/hour", "user": ""}}
    django_user_model.objects.create_user("victim", password="pw-victim-123")
    for name in ("a", "b", "c", "d"):
        sign_in(client, "/accounts/login/", name, "wrong")
    response = sign_in(client, "/accounts/login/", "victim", "pw-victim-123")
    assert "_auth_user_id" not in client.session and "Too many sign-in attempts" in response.content.decode()
    other = sign_in(client, "/accounts/login/", "victim", "pw-victim-123", addr="198.51.100.5")
    assert other.status_code == 302


def test_password_reset_requests_are_limited(client, settings):
    """Asking for password-reset mail is limited per address."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "password_reset": {"anon": "2/hour", "user": "2/hour"}}
    codes = [client.post("/accounts/password_reset/", {"email": f"x{i}@example.com"}, REMOTE_ADDR="198.51.100.8")
             for i in range(3)]
    assert [c.status_code for c in codes[:2]] == [302, 302]
    assert codes[2].status_code == 200 and "Too many" in codes[2].content.decode()
