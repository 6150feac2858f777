"""Explanations are a bounded queue (issue 18, reproduction 7): a few open per client, the
perturbed text is what the model reads, and steady use never reloads or recompiles."""

import pytest
from rest_framework.test import APIClient

from reviews.models import Explanation
from reviews.services.reviews import review_submit
from reviews.worker import explanations

pytestmark = pytest.mark.django_db


def test_a_client_may_have_only_a_few_explanations_open(active_model, settings):
    """The fourth open explanation of one client is a 429 with Retry-After (before: unbounded)."""
    settings.SENTIMENT_EXPLAIN_MAX_PENDING = 3
    client = APIClient()
    ids = [client.post("/api/v1/reviews", {"text": f"film number {i}"}, format="json").json()["prediction"]["id"]
           for i in range(4)]
    codes = [client.post(f"/api/v1/predictions/{pk}/explanation").status_code for pk in ids]
    assert codes == [202, 202, 202, 429]
    refused = client.post(f"/api/v1/predictions/{ids[3]}/explanation")
    assert refused.json()["error"]["code"] == "too_many_pending" and "Retry-After" in refused
    assert Explanation.objects.count() == 3
    assert client.post(f"/api/v1/predictions/{ids[0]}/explanation").status_code == 202  # asked again: no new work


def test_a_huge_review_is_explained_on_the_words_the_model_reads(active_model, small_explanations):
    """A 20,000-character review: the perturbed texts are the head and tail the model reads, and
    the spans still point into the review."""
    head, middle, tail = "great wonderful film " * 20, "plot scene story " * 1100, " awful boring ending" * 20
    text = (head + middle + tail)[:20_000]
    prediction = review_submit(text=text, session_key="s")
    row = Explanation.objects.create(prediction=prediction, model_version=active_model, params={"num_samples": 30})
    seen = []
    predictor = explanations.explainer_for(active_model)
    real = predictor.predict_proba
    predictor.predict_proba = lambda texts, **kw: seen.extend(texts) or real(texts, **kw)
    try:
        result = explanations.compute_explanation(row)["result"]
    finally:
        predictor.predict_proba = real
    assert max(len(t) for t in seen) < 2_000  # the window, not 20,000 characters
    window = result["window"]
    assert window[0][0] == 0 and window[-1][1] == len(text) and len(window) == 2
    for word in result["words"]:
        assert all(text[a:b] == word["word"] for a, b in word["spans"])


def test_explaining_versions_in_turn_never_reloads_or_recompiles(active_model, model_store, monkeypatch, settings):
    """Explanations of the active and an older version in turn keep both explainers (none is
    loaded again), and only the active version's is compiled, once (before: a cache of two, so
    three versions in turn reloaded and recompiled on every request)."""
    from modeling.serving import Predictor
    from reviews.services.model_versions import model_version_register

    monkeypatch.setattr(explanations, "_explainers", {})
    monkeypatch.setattr(explanations, "_compiling", set())
    compiled = []
    monkeypatch.setattr(Predictor, "compile", lambda self: compiled.append(self.version_id) or False)
    settings.SENTIMENT_EXPLAIN_COMPILE = True
    other = model_version_register(version_id=model_store[1].id)
    first = [explanations.explainer_for(v) for v in (active_model, other)]
    for _ in range(3):
        assert [explanations.explainer_for(v) for v in (active_model, other)] == first
    import time

    deadline = time.monotonic() + 10
    while not compiled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert compiled == [active_model.id]


def test_the_dashboard_shows_the_explanation_queue(client, staff, active_model):
    """Staff see how many explanations wait and how long the oldest has waited."""
    from reviews.services.explanations import explanation_request

    explanation_request(prediction=review_submit(text="a film", session_key="s"))
    client.force_login(staff)
    page = client.get("/dashboard/").content.decode()
    assert "Explanations: 1 waiting, 0 running; the oldest has waited" in page


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_requests_cannot_pass_the_cap(active_model, settings):
    """Six requests of one client sent at once, for six predictions, queue exactly three."""
    from reviews.services.explanations import ExplanationQueueFull, explanation_request
    from tests.reviews.conftest import at_once

    settings.SENTIMENT_EXPLAIN_MAX_PENDING = 3
    predictions = [review_submit(text=f"film {i}", session_key="s") for i in range(6)]

    def ask(prediction):
        try:
            return explanation_request(prediction=prediction, requester="anon:burst")[1]
        except ExplanationQueueFull:
            return False

    assert sum(at_once(ask, [(p,) for p in predictions])) == 3
    assert Explanation.objects.filter(requester="anon:burst").count() == 3


def test_staff_health_shows_the_explanation_queue(staff_api, active_model):
    """GET /api/v1/health as staff reports the explanation queue's depth and waits."""
    from reviews.services.explanations import explanation_request

    explanation_request(prediction=review_submit(text="a film", session_key="s"))
    queue = staff_api.get("/api/v1/health").json()["explanations"]
    assert queue["pending"] == 1 and queue["running"] == 0 and queue["oldest_wait_s"] >= 0
