"""SENTIMENT_MODEL_STORE=s3://...: versions registered only once uploaded, activated and served on
a machine that never had their files, checked against the store (a real S3-compatible server,
tests/conftest.py)."""

import shutil

import boto3
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from modeling import registry
from reviews import model_store, predictor
from reviews.conf import conf
from reviews.models import ModelVersion
from reviews.services.model_versions import model_version_activate, model_version_register
from tests.reviews.conftest import tamper_weights

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine_a(s3_store, tiny_versions):
    """The tiny versions saved on this machine (its cache) and registered: so uploaded."""
    store, versions = tiny_versions
    cache = model_store.local_root()
    for version in versions:
        shutil.copytree(version.path, cache / version.id)
    predictor.reset()
    rows = [model_version_register(version_id=v.id) for v in versions]
    yield rows
    predictor.reset()


def forget_local_copies():
    """Another machine: the same database and store, an empty cache."""
    shutil.rmtree(model_store.local_root())


def test_a_registered_version_is_in_the_store(machine_a):
    """Registration uploads the version whole before the row exists."""
    assert model_store.remote().version_ids() == sorted(row.id for row in machine_a)
    assert machine_a[0].status == ModelVersion.Status.ACTIVE


def test_a_machine_without_the_files_activates_and_serves_from_the_store(machine_a):
    """Activation from a web machine that never had the version fetches it, verified, instead
    of rejecting it; the predictor of a fresh process serves it."""
    forget_local_copies()
    second = model_version_activate(version=ModelVersion.objects.get(pk=machine_a[1].id))
    assert second.status == ModelVersion.Status.ACTIVE
    assert (model_store.local_root() / second.id / "manifest.json").exists()
    forget_local_copies()
    predictor.reset()
    current = predictor.current_predictor()
    assert current.version_id == second.id
    assert current.predict_proba(["a fine film"]).shape == (1, 2)


def test_a_cached_copy_that_no_longer_verifies_is_fetched_again(machine_a):
    """This machine's copy damaged (or sealed under a key since rotated): the process fetches the
    store's copy again and serves it."""
    tamper_weights(model_store.local_root() / machine_a[0].id)
    predictor.reset()
    assert predictor.current_predictor().version_id == machine_a[0].id
    registry.verify(model_store.local_root() / machine_a[0].id, key=conf.signing_key())


def test_rolling_back_needs_no_local_copy(machine_a):
    """Rollback (activating the earlier version) on a machine with an empty cache works too."""
    model_version_activate(version=ModelVersion.objects.get(pk=machine_a[1].id))
    forget_local_copies()
    back = model_version_activate(version=ModelVersion.objects.get(pk=machine_a[0].id))
    assert back.status == ModelVersion.Status.ACTIVE


def test_a_version_changed_in_the_store_is_rejected(machine_a, s3_bucket):
    """Files replaced in the bucket fail verification on the machine that fetches them: the
    version is rejected, the active one stays."""
    endpoint, bucket = s3_bucket
    target = machine_a[1].id
    client = boto3.client("s3", endpoint_url=endpoint)
    weights = next(k["Key"] for k in client.list_objects_v2(Bucket=bucket, Prefix=f"sentiment/versions/{target}/")["Contents"]
                   if k["Key"].endswith(".safetensors"))
    client.put_object(Bucket=bucket, Key=weights, Body=b"planted")
    forget_local_copies()
    with pytest.raises(ValidationError, match="failed verification"):
        model_version_activate(version=ModelVersion.objects.get(pk=target))
    assert ModelVersion.objects.get(pk=target).status == ModelVersion.Status.REJECTED
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).id == machine_a[0].id


def test_a_version_missing_from_the_store_is_refused_not_rejected(machine_a, s3_bucket):
    """A version the store lacks (deleted, or never pushed) is not activated, and not condemned:
    pushed again, it activates."""
    endpoint, bucket = s3_bucket
    target = machine_a[1].id
    boto3.client("s3", endpoint_url=endpoint).delete_object(Bucket=bucket, Key=f"sentiment/versions/{target}/.complete")
    with pytest.raises(ValidationError, match="not in the object store"):
        model_version_activate(version=ModelVersion.objects.get(pk=target))
    assert ModelVersion.objects.get(pk=target).status == ModelVersion.Status.CANDIDATE
    from django.core.management import call_command

    call_command("push_versions")
    assert model_version_activate(version=ModelVersion.objects.get(pk=target)).status == ModelVersion.Status.ACTIVE


def test_a_store_that_is_down_refuses_activation_and_condemns_nothing(machine_a, settings):
    """The store unreachable: activation is refused with the reason, the version keeps its status."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.SENTIMENT_S3_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    with pytest.raises(ValidationError, match="was not activated"):
        model_version_activate(version=ModelVersion.objects.get(pk=machine_a[1].id))
    assert ModelVersion.objects.get(pk=machine_a[1].id).status == ModelVersion.Status.CANDIDATE


def test_a_local_folder_store_needs_no_new_setting():
    """The embedded default: a folder, no object store, versions read where they are."""
    assert model_store.remote() is None
    assert model_store.local_root() == settings.SENTIMENT_MODEL_STORE
