"""Requested work and leases: the coordination between web processes and workers, in the
database so it holds across processes and machines, on PostgreSQL and SQLite alike."""

from __future__ import annotations

import logging
import os
import socket
import traceback
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviews.models import Lease, RequestedWork, WorkStatus

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# --- claiming -------------------------------------------------------------------------------


def requeue_stale(model: type[RequestedWork], *, stale_after: timedelta, max_attempts: int) -> int:
    """Rows whose claimant stopped beating go back to pending (or fail after `max_attempts`)."""
    cutoff = timezone.now() - stale_after
    stale = model.objects.filter(status=WorkStatus.RUNNING, heartbeat_at__lt=cutoff)
    failed = stale.filter(attempts__gte=max_attempts).update(
        status=WorkStatus.FAILED,
        finished_at=timezone.now(),
        error="its worker stopped responding too many times",
    )
    requeued = stale.filter(attempts__lt=max_attempts).update(status=WorkStatus.PENDING, claimed_by="", claimed_at=None)
    if requeued or failed:
        log.warning("%s: requeued %d stale row(s), failed %d", model.__name__, requeued, failed)
    return requeued


def claim_next(model: type[RequestedWork], *, worker_id: str, filters: Q | None = None) -> RequestedWork | None:
    """Claim the oldest claimable row for `worker_id`, or None.

    The claim is one conditional UPDATE (`... WHERE id = ? AND status = 'pending'`): of two
    workers racing for a row exactly one updates it, on any database.
    """
    now = timezone.now()
    claimable = model.objects.filter(status=WorkStatus.PENDING).filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    if filters is not None:
        claimable = claimable.filter(filters)
    for candidate in claimable.order_by("created_at", "pk").values_list("pk", flat=True)[:5]:
        won = model.objects.filter(pk=candidate, status=WorkStatus.PENDING).update(
            status=WorkStatus.RUNNING, claimed_by=worker_id, claimed_at=now, heartbeat_at=now, attempts=F("attempts") + 1
        )
        if won:
            return model.objects.get(pk=candidate)
    return None


def beat(row: RequestedWork, **fields) -> bool:
    """Refresh a claimed row's heartbeat (and save `fields`); False if the claim was lost."""
    return bool(
        type(row).objects.filter(pk=row.pk, status=WorkStatus.RUNNING, claimed_by=row.claimed_by).update(
            heartbeat_at=timezone.now(), **fields
        )
    )


def finish(row: RequestedWork, *, error: str = "", **fields) -> None:
    type(row).objects.filter(pk=row.pk).update(
        status=WorkStatus.FAILED if error else WorkStatus.DONE, finished_at=timezone.now(), error=error, **fields
    )


def release(row: RequestedWork, *, delay: timedelta = timedelta(seconds=30), reason: str = "") -> None:
    """Give a claimed row back (it could not run now), to be tried again after `delay`."""
    type(row).objects.filter(pk=row.pk, claimed_by=row.claimed_by).update(
        status=WorkStatus.PENDING, claimed_by="", claimed_at=None, not_before=timezone.now() + delay,
        attempts=F("attempts") - 1, error=reason,
    )


def run_claimed(
    row: RequestedWork, handler: Callable[[RequestedWork], dict | None], *, passthrough: tuple[type[Exception], ...] = ()
) -> bool:
    """Run `handler` on a claimed row and record the outcome; an exception marks the row
    failed with its error and never escapes (the worker goes on with the next row), except the
    `passthrough` ones, which the caller handles (an interruption is not a failure)."""
    try:
        fields = handler(row) or {}
    except passthrough:
        raise
    except Exception as exc:
        log.exception("%s %s failed", type(row).__name__, row.pk)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        finish(row, error=detail[:4000])
        return False
    finish(row, **fields)
    return True


# --- leases ---------------------------------------------------------------------------------


def lease_acquire(name: str, *, holder: str, ttl: timedelta) -> bool:
    """Take the lease `name` for `ttl` if it is free, expired, or already ours."""
    now = timezone.now()
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
        return True
    except IntegrityError:
        pass
    taken = Lease.objects.filter(name=name).filter(Q(expires_at__lt=now) | Q(holder=holder)).update(
        holder=holder, acquired_at=now, expires_at=now + ttl
    )
    return bool(taken)


def lease_renew(name: str, *, holder: str, ttl: timedelta) -> bool:
    """Extend our lease; False if it expired and someone else took it."""
    return bool(Lease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now() + ttl))


def lease_release(name: str, *, holder: str) -> None:
    Lease.objects.filter(name=name, holder=holder).delete()


def lease_holder(name: str) -> str | None:
    lease = Lease.objects.filter(name=name, expires_at__gte=timezone.now()).first()
    return lease.holder if lease else None
