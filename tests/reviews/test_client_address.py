"""Who the client is behind a reverse proxy, and how addresses group for limits (issue 18,
reproduction 3)."""

import pytest
from rest_framework.test import APIClient

from reviews.identity import client_ip

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_a_minute(settings, active_model):
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "predict": {"anon": "1/min", "user": "100/min"}}


def predict(**meta) -> int:
    return APIClient().post("/api/v1/predict", {"text": "fine"}, format="json", **meta).status_code


def test_visitors_behind_a_trusted_proxy_have_their_own_budgets(one_a_minute, settings):
    """Behind the trusted proxy on 127.0.0.1 two visitors are two clients (before, every visitor
    behind the proxy shared one budget)."""
    settings.SENTIMENT_TRUSTED_PROXIES = ["127.0.0.1"]
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    assert predict(HTTP_X_FORWARDED_FOR="203.0.113.1", **via_proxy) == 200
    assert predict(HTTP_X_FORWARDED_FOR="203.0.113.2", **via_proxy) == 200
    assert predict(HTTP_X_FORWARDED_FOR="203.0.113.1", **via_proxy) == 429


def test_a_forwarded_header_from_an_untrusted_address_is_ignored(one_a_minute, settings):
    """A client cannot claim another address by sending X-Forwarded-For itself."""
    settings.SENTIMENT_TRUSTED_PROXIES = ["127.0.0.1"]
    assert predict(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.1") == 200
    assert predict(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.77") == 429


def test_ipv6_clients_share_a_budget_per_64(one_a_minute):
    """Addresses of one IPv6 /64 are one client for limits; another /64 is another."""
    assert predict(REMOTE_ADDR="2001:db8:0:1::1") == 200
    assert predict(REMOTE_ADDR="2001:db8:0:1::ffff") == 429
    assert predict(REMOTE_ADDR="2001:db8:0:2::1") == 200


@pytest.mark.parametrize("remote, forwarded, trusted, expected", [
    ("127.0.0.1", "203.0.113.5", ["127.0.0.1"], "203.0.113.5"),
    ("10.0.0.2", "203.0.113.5, 10.0.0.1", ["10.0.0.0/8"], "203.0.113.5"),
    ("10.0.0.2", "198.51.100.1, 203.0.113.5, 10.0.0.1", ["10.0.0.0/8"], "203.0.113.5"),
    ("10.0.0.2", "not-an-address", ["10.0.0.0/8"], "10.0.0.2"),
    ("10.0.0.2", "", ["10.0.0.0/8"], "10.0.0.2"),
    ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),
])
def test_client_ip_walks_the_forwarded_chain_from_the_right(rf, settings, remote, forwarded, trusted, expected):
    """The client is the rightmost address the trusted proxies did not add."""
    settings.SENTIMENT_TRUSTED_PROXIES = trusted
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_a_bad_proxy_setting_is_refused(monkeypatch):
    """SENTIMENT_TRUSTED_PROXIES that is not a list of addresses or networks fails at start."""
    from django.core.exceptions import ImproperlyConfigured

    from reviews.conf import BY_NAME

    monkeypatch.setenv("SENTIMENT_TRUSTED_PROXIES", "127.0.0.1,not-a-network")
    with pytest.raises(ImproperlyConfigured, match="not-a-network"):
        BY_NAME["SENTIMENT_TRUSTED_PROXIES"].parse(None, None)


def test_a_chain_of_trusted_proxies_names_its_first_hop(rf, settings):
    """When every forwarded address is a trusted one, the client is the first of them."""
    settings.SENTIMENT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="10.1.1.1, 10.0.0.1")
    assert client_ip(request) == "10.1.1.1"
