"""The audit trail: `audit_record` is called inside the transaction of the change it records,
so a change and its event are stored together or not at all (reviews.models.AuditEvent)."""

from __future__ import annotations

from django.utils import timezone

from reviews.models import AuditEvent


def audit_record(*, action: str, actor, object_type: str, object_id, before: dict | None = None,
                 after: dict | None = None, note: str = "") -> AuditEvent:
    """Append one event; `actor` None (or anonymous) is the system."""
    person = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        at=timezone.now(), actor_id=person.pk if person else None, actor=person.get_username() if person else "",
        action=action, object_type=object_type, object_id=str(object_id), before=before or {}, after=after or {},
        note=note or "",
    )
