"""Sign-in and password reset with limits (reviews.ratelimit), on the site and in the admin.

Failed sign-ins are counted per username (SENTIMENT_RATE_LOGIN_USER, tiers that back off) and per
client address (SENTIMENT_RATE_LOGIN_ADDR). An attempt over either budget is refused before the
password is checked, so guessing costs no hashing; a sign-in that succeeds counts nothing.
"""

from __future__ import annotations

import hashlib

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import PasswordResetView
from django.core.exceptions import ValidationError

from reviews import ratelimit
from reviews.identity import client_ip
from reviews.services.reviews import client_hash


def wait_text(seconds: int) -> str:
    minutes = (seconds + 59) // 60
    return f"{seconds} seconds" if seconds < 120 else f"{minutes} minutes"


def _who(request, username: str) -> list[tuple[str, str]]:
    """The budgets a sign-in attempt counts against: its username's (hashed) and its address's."""
    name = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return [("login_user", name), ("login_addr", _address(request))]


def _address(request) -> str:
    """The client's address as the limits count it: its salted hash (IPv4, or the IPv6 /64), as
    everywhere else addresses are kept."""
    return client_hash(client_ip(request)) or "unknown"


class LimitedSignIn:
    """Mixed into Django's authentication forms: the limits around their clean()."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()
        counted = []
        for scope, ident in _who(self.request, username):
            decision = ratelimit.hit(scope, ident, authenticated=False)
            if not decision.allowed:
                for earlier in counted:
                    ratelimit.undo(*earlier, authenticated=False)
                raise ValidationError(
                    f"Too many sign-in attempts; try again in {wait_text(decision.retry_after)}.", code="throttled"
                )
            counted.append((scope, ident))
        cleaned = super().clean()  # raises on a wrong password: the attempt stays counted
        for scope, ident in counted:
            ratelimit.undo(scope, ident, authenticated=False)
        return cleaned


class SignInForm(LimitedSignIn, AuthenticationForm):
    pass


class AdminSignInForm(LimitedSignIn, AdminAuthenticationForm):
    pass


class LimitedPasswordResetView(PasswordResetView):
    """Password-reset mail, at most SENTIMENT_RATE_PASSWORD_RESET per client address."""

    def form_valid(self, form):
        ident = _address(self.request)
        decision = ratelimit.hit("password_reset", ident, authenticated=False)
        if not decision.allowed:
            form.add_error("email", f"Too many reset requests; try again in {wait_text(decision.retry_after)}.")
            return self.form_invalid(form)
        return super().form_valid(form)
