"""Who is asking: a signed-in user, or an anonymous session (created on first need), from the
client address the trusted proxies vouch for.

An anonymous visitor's session key is their cookie: whoever holds it is them. It is therefore
never stored or shown; rows keep `session_hash(key)`, and lookups compare hashes."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from django.utils.crypto import salted_hmac

from reviews.conf import conf

# The HMAC's purpose: a hash made for this use is worth nothing elsewhere. The data migration
# reviews/migrations/0008_hash_session_keys.py hashes old rows the same way.
SESSION_HASH_PURPOSE = "reviews.session-key"

# An IPv6 client usually holds a whole /64: it is one client for limits and hashes.
IPV6_CLIENT_PREFIX = 64
# A network, for the retraining loop's per-network cap: an IPv4 /24, an IPv6 /48 (a site).
IPV4_NETWORK_PREFIX = 24
IPV6_NETWORK_PREFIX = 48


@dataclass(frozen=True)
class Visitor:
    user: object
    session_key: str
    client_ip: str | None

    @property
    def authenticated(self) -> bool:
        return bool(self.user is not None and self.user.is_authenticated)

    @property
    def rate_key(self) -> str:
        if self.authenticated:
            return f"user:{self.user.pk}"
        from reviews.services.reviews import client_hash

        return f"anon:{client_hash(self.client_ip) or session_hash(self.session_key)}"

    def as_kwargs(self) -> dict:
        return {"user": self.user, "session_key": self.session_key, "client_ip": self.client_ip}

    def scope(self) -> dict:
        """The keyword arguments of the selectors that limit what this visitor may see."""
        return {"user": self.user, "session_key": self.session_key}


def session_hash(session_key: str) -> str:
    """What is kept of an anonymous session: an HMAC of its key under the secret key (64 hex
    characters; "" for no session). Tells a visitor's rows apart and finds them again, and cannot
    be used as their cookie."""
    if not session_key:
        return ""
    return salted_hmac(SESSION_HASH_PURPOSE, session_key, algorithm="sha256").hexdigest()


def reporter_key(*, user=None, session_key: str = "") -> str:
    """Who flags, as Feedback.reporter keeps it: "user:<id>" or "session:<hash>" ("" for nobody)."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"session:{session_hash(session_key)}" if session_key else ""


def visitor(request, *, create_session: bool = False) -> Visitor:
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    session_key = ""
    if session is not None and not (user is not None and user.is_authenticated):
        if not session.session_key and create_session:
            session.create()
        session_key = session.session_key or ""
    return Visitor(user=user, session_key=session_key, client_ip=client_ip(request))


@functools.lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(value, strict=False) for value in spec)


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or, when that is one of SENTIMENT_TRUSTED_PROXIES, the
    rightmost address of X-Forwarded-For that no trusted proxy added (a client can write anything
    to the left of what its first proxy appended, so those entries are never believed)."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = _networks(tuple(conf.site.trusted_proxies))
    if remote is None or not trusted:
        return remote

    def is_trusted(address) -> bool:
        return any(address in network for network in trusted)

    address = _address(remote)
    if address is None or not is_trusted(address):
        return remote
    client = address
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop_address = _address(hop)
        if hop_address is None:
            break  # garbage in the chain: trust nothing past it
        client = hop_address
        if not is_trusted(hop_address):
            break
    return str(client)


def client_group(ip: str) -> str:
    """The unit of one client for limits and hashes: the IPv4 address, or the IPv6 /64."""
    address = _address(ip)
    if address is None or address.version == 4:
        return ip
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))


def network_of(ip: str) -> str:
    """The network a client address belongs to: its IPv4 /24 or IPv6 /48 ("" for no address)."""
    address = _address(ip)
    if address is None:
        return ""
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_NETWORK_PREFIX if address.version == 4 else IPV6_NETWORK_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
