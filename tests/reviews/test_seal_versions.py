"""`manage.py seal_versions`: the one-time upgrade of unsealed versions, and key rotation; a
version that appears unsealed later is never sealed (issue 18, reproduction 6)."""

import json

import pytest
from django.core.management import CommandError, call_command

from modeling import registry
from reviews.conf import conf
from reviews.models import ModelVersion
from reviews.services.model_versions import model_version_register

pytestmark = pytest.mark.django_db


def unseal(folder):
    """Rewrite a version as the format before sealing (an unkeyed digest anyone can recompute)."""
    manifest = json.loads((folder / registry.MANIFEST).read_text())
    manifest.pop("seal")
    manifest["format"] = 1
    manifest["integrity"] = registry._manifest_digest(manifest)
    (folder / registry.MANIFEST).write_text(json.dumps(manifest))


def test_versions_registered_before_sealing_are_sealed_once(own_store, model_store):
    """A version registered before the upgrade (awaiting_seal, set by the migration) is sealed."""
    row = model_version_register(version_id=model_store[0].id)
    ModelVersion.objects.filter(pk=row.pk).update(awaiting_seal=True)
    unseal(own_store / row.id)
    call_command("seal_versions")
    registry.verify(own_store / row.id, key=conf.signing_key())
    assert not ModelVersion.objects.get(pk=row.pk).awaiting_seal


def test_a_version_unsealed_after_the_upgrade_is_never_sealed(own_store, model_store):
    """Someone who rewrites a registered version in the old format (weights changed, digest
    recomputed) cannot get it sealed by the next start: the command refuses it."""
    row = model_version_register(version_id=model_store[0].id)
    unseal(own_store / row.id)
    with pytest.raises(CommandError, match="could not be sealed"):
        call_command("seal_versions")
    with pytest.raises(registry.VerificationError):
        registry.verify(own_store / row.id, key=conf.signing_key())


def test_rotating_the_secret_key_reseals_with_the_old_one(own_store, model_store, settings, monkeypatch):
    """After DJANGO_SECRET_KEY changes, --old-secret-key-env moves every version to the new key."""
    row = model_version_register(version_id=model_store[0].id)
    test_key = conf.signing_key()
    settings.SENTIMENT_MODEL_SIGNING_KEY = ""  # from now on the key is derived from SECRET_KEY
    old_secret = "the-old-secret-key-" * 3
    registry.reseal(own_store / row.id, old_key=test_key, key=conf.signing_key(secret=old_secret))
    with pytest.raises(registry.VerificationError):
        registry.verify(own_store / row.id, key=conf.signing_key())
    monkeypatch.setenv("OLD_SECRET", old_secret)
    call_command("seal_versions", old_secret_key_env="OLD_SECRET")
    registry.verify(own_store / row.id, key=conf.signing_key())
