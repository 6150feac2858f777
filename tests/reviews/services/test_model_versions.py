import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviews.models import ModelVersion
from reviews.selectors import model_version_active
from reviews.services.model_versions import model_version_activate, model_version_register
from tests.reviews.conftest import tamper_manifest, tamper_weights

pytestmark = pytest.mark.django_db


def test_first_registered_version_becomes_active_second_stays_candidate(model_store):
    """On an empty database the first version registered is activated; the next is a candidate."""
    first = model_version_register(version_id=model_store[0].id)
    second = model_version_register(version_id=model_store[1].id)
    assert first.status == ModelVersion.Status.ACTIVE and first.activated_at is not None
    assert second.status == ModelVersion.Status.CANDIDATE
    assert model_version_active().id == model_store[0].id
    assert first.metrics["test"]["accuracy"] == model_store[0].metrics["test"]["accuracy"]


def test_activate_retires_the_previous_version_and_rolls_back(model_store):
    """Activating another version retires the old one; activating the old one again rolls back."""
    first = model_version_register(version_id=model_store[0].id)
    second = model_version_register(version_id=model_store[1].id)
    model_version_activate(version=second)
    assert model_version_active().id == second.id
    assert ModelVersion.objects.get(pk=first.id).status == ModelVersion.Status.RETIRED
    model_version_activate(version=first)
    assert model_version_active().id == first.id


def test_two_active_versions_are_impossible_in_the_database(model_store):
    """The partial unique constraint refuses a second active row, whatever the code does."""
    model_version_register(version_id=model_store[0].id)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(id="rogue", base_model="x", status="active", created_at=timezone.now())


@pytest.mark.parametrize("tamper", [tamper_weights, tamper_manifest])
def test_a_version_changed_after_saving_cannot_be_registered(own_store, model_store, tamper):
    """A version whose weights or manifest changed after it was saved gets no row."""
    model_version_register(version_id=model_store[0].id)
    tamper(own_store / model_store[1].id)
    with pytest.raises(ValidationError, match="cannot be registered"):
        model_version_register(version_id=model_store[1].id)
    assert not ModelVersion.objects.filter(pk=model_store[1].id).exists()
    assert model_version_active().id == model_store[0].id


@pytest.mark.parametrize("tamper", [tamper_weights, tamper_manifest])
def test_a_version_changed_after_registering_is_refused_activation_and_marked_rejected(own_store, model_store, tamper):
    """A registered version whose files changed is not activated: it is marked rejected and
    the active version stays active."""
    model_version_register(version_id=model_store[0].id)
    second = model_version_register(version_id=model_store[1].id)
    tamper(own_store / second.id)
    with pytest.raises(ValidationError, match="failed verification"):
        model_version_activate(version=second)
    second.refresh_from_db()
    assert second.status == ModelVersion.Status.REJECTED and second.status_reason
    assert model_version_active().id == model_store[0].id


def test_an_unknown_version_cannot_be_registered(db, model_store):
    """A version id that is not in the store is refused with a ValidationError."""
    with pytest.raises(ValidationError, match="cannot be registered"):
        model_version_register(version_id="no-such-version")
    assert not ModelVersion.objects.exists()
