import shutil
import threading
import time

import numpy as np
import pytest
from django.db import connections

from modeling.serving import Predictor
from reviews import predictor
from reviews.models import ModelVersion, Prediction
from reviews.selectors import system_health
from reviews.services.model_versions import model_version_activate, model_version_register
from reviews.services.reviews import review_submit
from reviews.conf import conf


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def two_versions(model_store):
    predictor.reset()
    first = model_version_register(version_id=model_store[0].id)
    second = model_version_register(version_id=model_store[1].id)
    yield first, second
    predictor.holder.wait_for_loading(10)
    predictor.reset()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_predictions_name_the_version_that_produced_them_while_versions_change(two_versions):
    """Threads predict while the active version changes twice: no errors, and every stored
    prediction's probabilities are exactly what its recorded version computes."""
    first, second = two_versions
    stop, errors = threading.Event(), []
    texts = ["great film", "awful boring mess", "the plot was a waste", "loved the cast and music", "it was the movie"]

    def client(n):
        try:
            i = 0
            while not stop.is_set():
                review_submit(text=f"{texts[i % len(texts)]} {n}", session_key=f"s{n}")
                i += 1
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        assert wait_until(lambda: predictor.holder.version_id == first.id)
        for target in (second, first):
            time.sleep(0.5)
            model_version_activate(version=ModelVersion.objects.get(pk=target.id))
            assert wait_until(lambda target=target: predictor.holder.version_id == target.id)
            assert wait_until(lambda target=target: Prediction.objects.filter(model_version_id=target.id).count() > 3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    seen = set(Prediction.objects.values_list("model_version_id", flat=True))
    assert seen == {first.id, second.id}
    by_version = {v: Predictor(ModelVersion.objects.get(pk=v).path, key=conf.signing_key()) for v in seen}
    for p in Prediction.objects.select_related("review"):
        expected = by_version[p.model_version_id].predict_proba([p.review.text])[0]
        assert np.allclose([p.prob_negative, p.prob_positive], expected, atol=1e-6)


@pytest.mark.django_db(transaction=True)
def test_a_version_that_cannot_load_leaves_the_old_one_serving(two_versions, settings, tmp_path):
    """If the newly active version fails to load here, the old one keeps answering and the
    health report shows the mismatch and the error."""
    first, second = two_versions
    store = tmp_path / "store"
    shutil.copytree(settings.SENTIMENT_MODEL_STORE, store)
    settings.SENTIMENT_MODEL_STORE = store
    assert review_submit(text="great", session_key="s").model_version_id == first.id
    model_version_activate(version=ModelVersion.objects.get(pk=second.id))
    (store / second.id / "model.safetensors").write_bytes(b"corrupted")
    time.sleep(predictor.ACTIVE_CHECK_SECONDS + 0.1)
    assert review_submit(text="great", session_key="s").model_version_id == first.id
    predictor.holder.wait_for_loading(20)
    assert review_submit(text="fine", session_key="s").model_version_id == first.id
    status = system_health()
    assert status == {**status, "active_version": second.id, "loaded_version": first.id, "active_loaded": False}
    assert "checksum mismatch" in status["load_error"]
