"""Model versions: giving a registry version its row, and choosing the active one."""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from modeling import registry
from modeling.object_store import NotInStore, StoreUnavailable
from reviews import model_store
from reviews.conf import conf
from reviews.models import ModelVersion
from reviews.services.audit import audit_record

log = logging.getLogger(__name__)


def model_version_register(*, version_id: str, profile: str = "") -> ModelVersion:
    """Give a registry version its row (the only way a version gets one). The version is
    verified first and, with an object store, uploaded whole before it is registered (so every
    machine can fetch what the database names); when no version is active, the first verified one
    becomes active."""
    try:
        version = registry.load(model_store.local_root(), version_id, key=conf.signing_key())
        model_store.publish(version.id)  # outside the transaction: an upload may take a while
    except registry.RegistryError as exc:
        raise ValidationError(f"model version {version_id} cannot be registered: {exc}") from exc
    manifest = version.manifest
    with transaction.atomic():
        row, _ = ModelVersion.objects.update_or_create(
            id=version.id,
            defaults={
                "kind": manifest.get("kind", ModelVersion.Kind.TRANSFORMER),
                "base_model": manifest.get("base_model", ""),
                "profile": profile or manifest.get("profile", ""),
                "metrics": manifest.get("metrics", {}),
                "data": manifest.get("data", {}),
                "train_config": manifest.get("train_config", {}),
                "created_at": datetime.fromisoformat(manifest["created_at"]),
            },
        )
        if not ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).exists():
            row = model_version_activate(version=row, user=None)
        return row


def model_version_verify(*, version: ModelVersion) -> None:
    """Check a version before it may serve: with an object store, that the store has it whole
    and that the copy fetched from it verifies; otherwise the local folder. One that fails
    verification is marked rejected (for good: not in the caller's transaction); one the store
    lacks or cannot be asked about now (unreachable) is refused, not rejected. A ValidationError
    says why."""
    try:
        model_store.check_in_store(version.id)
    except (StoreUnavailable, NotInStore) as exc:
        raise ValidationError(f"model version {version.id} was not activated: {exc}") from exc
    except registry.RegistryError as exc:
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.REJECTED, status_reason=str(exc))
        raise ValidationError(f"model version {version.id} failed verification and was not activated: {exc}") from exc


def make_active(*, version: ModelVersion, user=None) -> ModelVersion:
    """The active-version switch itself, inside the caller's transaction (the version verified)."""
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status == ModelVersion.Status.ACTIVE:
        return locked
    previous = list(ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE)
                    .values_list("pk", flat=True))
    ModelVersion.objects.filter(pk__in=previous).update(status=ModelVersion.Status.RETIRED)
    was = locked.status
    locked.status = ModelVersion.Status.ACTIVE
    locked.activated_at = timezone.now()
    locked.activated_by = user
    locked.status_reason = ""
    locked.save(update_fields=["status", "activated_at", "activated_by", "status_reason"])
    audit_record(action="model.activate", actor=user, object_type="model_version", object_id=locked.pk,
                 before={"active": previous[0] if previous else None, "status": was},
                 after={"active": locked.pk})
    transaction.on_commit(lambda: log.info("model version %s activated by %s", locked.id, user or "the system"))
    return locked


def model_version_activate(*, version: ModelVersion, user=None) -> ModelVersion:
    """Make `version` the active one (rollback = activating an earlier version). A version whose
    files fail verification is refused and marked rejected."""
    model_version_verify(version=version)
    with transaction.atomic():
        return make_active(version=version, user=user)


def model_version_reject(*, version_id: str, reason: str) -> None:
    """Mark a version rejected (a candidate the gate refused), inside the caller's transaction."""
    ModelVersion.objects.filter(pk=version_id).update(status=ModelVersion.Status.REJECTED, status_reason=reason)
