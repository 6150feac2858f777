"""Accounts: API tokens."""

from __future__ import annotations

from django.db import transaction


@transaction.atomic
def api_token_issue(*, user, rotate: bool = False):
    """The user's API token (one per user), created when missing; `rotate` replaces it, so the
    old key stops working at once."""
    from rest_framework.authtoken.models import Token

    if rotate:
        Token.objects.filter(user=user).delete()
    token, _ = Token.objects.get_or_create(user=user)
    return token
