"""Requested work and leases: the coordination between web processes and workers, in the
database so it holds across processes and machines, on PostgreSQL and SQLite alike.

A row of a RequestedWork model (a training run, an explanation) is claimed by one worker with a
conditional UPDATE, kept alive by heartbeats while it runs, and finished only by its claimant.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviews.conf import conf
from reviews.models import Lease, RequestedWork, WorkerHeartbeat, WorkStatus

log = logging.getLogger(__name__)


# Each kind of work, and what a worker with that queue does (reviews.worker.scheduler).
QUEUES = ("training", "explanations", "maintenance")


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def parse_queues(names) -> tuple[str, ...]:
    """The queues named (a comma-separated string or a list), checked, in QUEUES order."""
    if isinstance(names, str):
        names = names.split(",")
    chosen = {name.strip() for name in names if name.strip()}
    unknown = chosen - set(QUEUES)
    if unknown:
        raise ValueError(f"unknown queue(s): {', '.join(sorted(unknown))}; the queues are {', '.join(QUEUES)}")
    if not chosen:
        raise ValueError(f"a worker takes at least one queue of {', '.join(QUEUES)}")
    return tuple(q for q in QUEUES if q in chosen)


def training_device(setting: str) -> str:
    """The device a worker trains on: "cpu" or "cuda" (SENTIMENT_WORKER_DEVICE; auto asks torch)."""
    if setting in ("cpu", "cuda"):
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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


def finish(row: RequestedWork, *, error: str = "", **fields) -> bool:
    """Record a claimed row's outcome; only its claimant can (False if the claim was lost)."""
    return bool(
        type(row).objects.filter(pk=row.pk, status=WorkStatus.RUNNING, claimed_by=row.claimed_by).update(
            status=WorkStatus.FAILED if error else WorkStatus.DONE, finished_at=timezone.now(), error=error, **fields
        )
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
        finish(row, error=error_text(exc))
        return False
    return finish(row, **fields)


def error_text(exc: BaseException) -> str:
    """An exception as the one line a failed row keeps."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]


@contextmanager
def keep_alive(row, *, lease: str | None = None, holder: str = "", interval: float = 10.0, lease_ttl: timedelta | None = None):
    """Beat the row's heartbeat (and renew a lease) from a side thread while a long step runs,
    so a busy worker is never mistaken for a dead one. The event it yields is set when the claim
    or the lease is lost, or when the thread itself fails (a database error): then the step must
    stop, since nobody keeps its claim alive any more."""
    stop, lost = threading.Event(), threading.Event()

    def loop():
        try:
            while not stop.wait(interval):
                if not beat(row):
                    lost.set()
                if lease and not lease_renew(lease, holder=holder, ttl=lease_ttl):
                    lost.set()
        except Exception:
            log.exception("keep-alive of %s %s failed; its work stops", type(row).__name__, row.pk)
            lost.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, name=f"keep-alive-{row.pk}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def drain(model, handle: Callable[[], int | None], *, stop: threading.Event | None = None) -> int:
    """Requeue `model`'s stale rows, then claim and handle pending ones until none is left
    (or `handle` says to stop by returning None). Returns how many were handled."""
    requeue_stale(model, stale_after=timedelta(seconds=conf.worker.stale_seconds), max_attempts=3)
    done = 0
    while stop is None or not stop.is_set():
        outcome = handle()
        if outcome is None:
            break
        done += outcome
    return done


def heartbeat(*, worker_id: str, started_at, doing: str = "", queues=QUEUES, device: str = "") -> None:
    """This worker's presence row (the site shows who is alive and what it takes)."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"hostname": socket.gethostname(), "pid": os.getpid(), "started_at": started_at,
                  "last_seen": timezone.now(), "doing": doing[:255], "queues": ",".join(queues), "device": device},
    )


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
