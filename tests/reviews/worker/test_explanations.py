import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils.html import escape

from reviews.worker import explanations
from reviews.models import Explanation, Review, WorkStatus
from reviews.services.explanations import explanation_request
from tests.reviews.conftest import at_once

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small(small_explanations):
    """Every test here uses cheap explanations."""


def submit(client, text):
    response = client.post(reverse("home"), {"text": text})
    assert response.status_code == 302
    return Review.objects.latest("id")


def test_why_button_queues_then_the_worker_fills_the_page(client, active_model):
    """'Why?' queues an explanation (the page says it is working); after the worker runs, the
    page shows highlighted words, a legend and the top words."""
    review = submit(client, "wonderful superb film , great cast")
    response = client.post(reverse("review-explain", args=[review.pk]))
    assert response.status_code == 302
    page = client.get(reverse("review-detail", args=[review.pk])).content.decode()
    assert "Working out which words mattered" in page and 'data-status="pending"' in page
    assert client.get(reverse("review-explanation-status", args=[review.pk])).json() == {"status": "pending"}
    call_command("runworker", "--once")
    explanation = Explanation.objects.get()
    assert explanation.status == WorkStatus.DONE, explanation.error
    page = client.get(reverse("review-detail", args=[review.pk])).content.decode()
    assert '<mark class="w-' in page and "Top words" in page and "towards positive" in page
    assert client.get(reverse("review-explanation-status", args=[review.pk])).json() == {"status": "done"}


def test_markup_in_an_explained_review_is_never_rendered(client, active_model):
    """A review holding a script and an img tag is shown escaped, with highlighting around words."""
    text = '<script>alert("x")</script><img src=x onerror=alert(2)> great superb film'
    review = submit(client, text)
    client.post(reverse("review-explain", args=[review.pk]))
    call_command("runworker", "--once")
    assert Explanation.objects.get().status == WorkStatus.DONE
    page = client.get(reverse("review-detail", args=[review.pk])).content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert f'<blockquote class="review-text">{escape(text)}</blockquote>' in page
    explained = re.search(r'<blockquote class="review-text explained">(.*?)</blockquote>', page, re.S).group(1)
    assert '<mark class="w-' in explained
    # Without our own <mark> tags, the highlighted text is the review escaped once, nothing else.
    assert re.sub(r'<span class="sign" aria-hidden="true">.</span></mark>|<mark [^>]*>', "", explained) == escape(text)


def test_asking_twice_gives_one_explanation(active_model):
    """Two requests (also at the same time) make one explanation row."""
    from reviews.services.reviews import review_submit

    prediction = review_submit(text="great film", session_key="s")
    first, created = explanation_request(prediction=prediction)
    again, created_again = explanation_request(prediction=prediction)
    assert created and not created_again and first.pk == again.pk
    assert Explanation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_make_one_row(active_model):
    """Threads asking at the same moment still create a single explanation."""
    from reviews.services.reviews import review_submit

    prediction = review_submit(text="great film", session_key="s")
    rows = at_once(lambda: explanation_request(prediction=prediction)[0].pk, [()] * 4)
    assert len(set(rows)) == 1 and Explanation.objects.count() == 1


def test_a_failing_explanation_is_recorded_and_the_next_is_computed(active_model, monkeypatch):
    """An explanation whose computation raises is marked failed with the error; the next one runs."""
    from reviews.services.reviews import review_submit

    bad = explanation_request(prediction=review_submit(text="awful film", session_key="s"))[0]
    good = explanation_request(prediction=review_submit(text="great film", session_key="s"))[0]
    real = explanations.compute_explanation

    def flaky(row):
        if row.pk == bad.pk:
            raise RuntimeError("out of memory in the tokenizer")
        return real(row)

    monkeypatch.setattr(explanations, "compute_explanation", flaky)
    assert explanations.process_explanations(worker_id="w") == 2
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == WorkStatus.FAILED and "out of memory" in bad.error
    assert good.status == WorkStatus.DONE
    again, retried = explanation_request(prediction=bad.prediction)
    assert retried and again.status == WorkStatus.PENDING


def test_explaining_a_review_you_cannot_see_is_404(client, active_model):
    """Another visitor's review, or one that does not exist, gives 404."""
    review = submit(client, "great film")
    other = client.__class__()
    assert other.post(reverse("review-explain", args=[review.pk])).status_code == 404
    assert client.post(reverse("review-explain", args=[99999])).status_code == 404


def test_staff_see_the_explanation_in_the_admin(client, active_model, staff):
    """The admin's feedback page shows the highlighted explanation."""
    review = submit(client, "great superb film")
    other = "negative" if review.latest_prediction.label == "positive" else "positive"
    client.post(reverse("review-flag", args=[review.pk]), {"label": other})
    client.post(reverse("review-explain", args=[review.pk]))
    call_command("runworker", "--once")
    client.force_login(staff)
    from reviews.models import Feedback

    page = client.get(reverse("admin:reviews_feedback_change", args=[Feedback.objects.get().pk])).content.decode()
    assert '<mark class="w-' in page and "Top words" in page


@pytest.mark.parametrize(
    "explain, served, native, expected",
    [
        ("auto", "auto", True, "bf16-weights"),  # bf16 in hardware: all in bf16 is the fastest pass
        ("bf16", "auto", True, "bf16"),
        ("auto", "auto", False, "int8"),  # no native bf16: the int8 copy beats fp32
        ("auto", "fp32", True, "int8"),
        ("fp32", "auto", True, "fp32"),
        ("int8", "auto", True, "int8"),
        ("auto", "int8", True, "int8"),  # serving int8: perturbations too
        ("auto", "auto/onnx", True, "int8"),  # serving through ONNX Runtime, which has no bf16
    ],
)
def test_perturbations_are_classified_at_the_chosen_precision(settings, monkeypatch, explain, served, native, expected):
    from modeling import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    settings.SENTIMENT_EXPLAIN_PRECISION = explain
    settings.SENTIMENT_PRECISION, _, backend = served.partition("/")
    settings.SENTIMENT_BACKEND = backend or "auto"
    assert explanations.explain_precision() == expected


def test_the_explainer_follows_its_settings_and_says_how_it_ran(active_model, settings):
    """A changed setting gives another explainer; the result records how perturbations ran."""
    settings.SENTIMENT_EXPLAIN_PRECISION = "int8"
    quantized = explanations.explainer_for(active_model)
    settings.SENTIMENT_EXPLAIN_PRECISION = "fp32"
    plain = explanations.explainer_for(active_model)
    assert (quantized.precision, plain.precision) == ("int8", "fp32")
    assert quantized.backend == "onnx"  # the version's int8 ONNX export
    assert explanations.explainer_for(active_model) is plain
    from reviews.services.reviews import review_submit

    settings.SENTIMENT_EXPLAIN_SELECTION = "lime"
    prediction = review_submit(text="a wonderful, moving film", session_key="s")
    row, _ = explanation_request(prediction=prediction)
    explanations.process_explanations(worker_id="w")
    row.refresh_from_db()
    assert row.status == WorkStatus.DONE and row.result["settings"]["precision"] == "fp32"
    assert row.result["settings"]["compiled"] is False  # tests do not compile (tests/conftest.py)
    assert row.params["selection"] == row.result["selection"] == "lime"


def test_the_worker_loads_the_active_explainer_ahead_and_compiles_it_in_a_thread(active_model, settings, monkeypatch):
    """prepare_explainer (a worker job) loads the active version's explainer before anyone asks;
    with SENTIMENT_EXPLAIN_COMPILE its forward pass is compiled in a thread of its own, once."""
    import threading

    from modeling.serving import Predictor

    monkeypatch.setattr(explanations, "_explainers", {})
    monkeypatch.setattr(explanations, "_compiling", set())
    compiling, threads = threading.Event(), []

    def compile(self):
        threads.append(threading.current_thread().name)
        compiling.set()
        return False

    monkeypatch.setattr(Predictor, "compile", compile)
    settings.SENTIMENT_EXPLAIN_COMPILE = True
    explanations.prepare_explainer()
    assert compiling.wait(30)
    assert threads == [f"compile-{active_model.id}"]
    assert [key[0] for key in explanations._explainers] == [active_model.id]
    compiling.clear()
    explanations.prepare_explainer()  # already there: neither loaded nor compiled again
    assert not compiling.wait(0.5) and len(threads) == 1


def test_the_number_of_samples_follows_the_kind_of_model_and_the_texts_length():
    """An n-gram model alone gets SENTIMENT_EXPLAIN_COMPANION_SAMPLES (fewer for a long text, within
    a character budget); a transformer served with its companion the with-companion number (gcv);
    a transformer alone, or LIME's own word choice, SENTIMENT_EXPLAIN_NUM_SAMPLES."""
    from types import SimpleNamespace

    params = {"num_samples": 500, "num_samples_with_companion": 100, "companion_samples": 5_000, "selection": "gcv"}
    ngram = SimpleNamespace(kind="ngram", ngram=object())
    assert explanations.samples_for(ngram, params, "short review")["num_samples"] == 5_000
    assert explanations.samples_for(ngram, params, "x" * 12_000)["num_samples"] == 500
    assert explanations.samples_for(ngram, {**params, "companion_samples": 400}, "x")["num_samples"] == 400
    served = SimpleNamespace(kind="transformer", ngram=object())
    assert explanations.samples_for(served, params, "x" * 12_000)["num_samples"] == 100
    assert explanations.samples_for(served, {**params, "selection": "lime"}, "x")["num_samples"] == 500
    alone = SimpleNamespace(kind="transformer", ngram=None)
    assert explanations.samples_for(alone, params, "x")["num_samples"] == 500
