"""Who is asking: a signed-in user, or an anonymous session (created on first need)."""

from dataclasses import dataclass


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

        return f"anon:{client_hash(self.client_ip) or self.session_key}"

    def as_kwargs(self) -> dict:
        return {"user": self.user, "session_key": self.session_key, "client_ip": self.client_ip}


def visitor(request, *, create_session: bool = False) -> Visitor:
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    session_key = ""
    if session is not None and not (user is not None and user.is_authenticated):
        if not session.session_key and create_session:
            session.create()
        session_key = session.session_key or ""
    return Visitor(user=user, session_key=session_key, client_ip=request.META.get("REMOTE_ADDR"))
