import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from reviews.identity import session_hash
from reviews.models import Feedback, Prediction, Review
from reviews.services.reviews import NoActiveModel, review_submit, review_submit_many
from reviews.services.feedback import feedback_approve, feedback_flag, feedback_reject

pytestmark = pytest.mark.django_db


def test_review_submit_stores_review_and_prediction_with_its_version(active_model):
    """Submitting keeps the review and a prediction naming the version that answered."""
    p = review_submit(text="great wonderful film", session_key="s1", client_ip="10.1.2.3")
    assert p.model_version_id == active_model.id
    assert p.label in ("negative", "positive") and 0.5 <= p.confidence <= 1.0
    assert abs(p.prob_negative + p.prob_positive - 1.0) < 1e-6 and p.latency_ms >= 0
    review = Review.objects.get()
    assert review.session_key == session_hash("s1") and review.client_hash and "10.1.2.3" not in review.client_hash


def test_review_submit_without_a_model_raises_no_active_model(db):
    """Before the first model exists, submitting says so and stores nothing."""
    from reviews import predictor

    predictor.reset()
    with pytest.raises(NoActiveModel):
        review_submit(text="fine film", session_key="s")
    assert Review.objects.count() == 0


@pytest.mark.parametrize("text,code", [("", "required"), ("   \n ", "required"), (5, "invalid"), ("x" * 20_001, "max_length")])
def test_bad_review_text_is_refused(active_model, text, code):
    """Empty, whitespace-only, non-string and too-long texts are refused with a code."""
    with pytest.raises(ValidationError) as excinfo:
        review_submit(text=text, session_key="s")
    assert excinfo.value.code == code
    assert Review.objects.count() == 0


def test_batch_submit_keeps_one_prediction_per_text(active_model):
    """A batch stores one review and one prediction per text, in order."""
    predictions = review_submit_many(texts=["great", "awful mess"], session_key="s")
    assert [p.review.text for p in predictions] == ["great", "awful mess"]


def test_flag_is_stored_once_per_person(active_model):
    """A second flag by the same person returns the first and stores nothing new."""
    p = review_submit(text="loved it", session_key="s")
    other = "negative" if p.label == "positive" else "positive"
    first, created = feedback_flag(prediction=p, label=other, comment="wrong", session_key="s")
    again, created_again = feedback_flag(prediction=p, label=other, session_key="s")
    assert created and not created_again and again.pk == first.pk
    assert Feedback.objects.count() == 1 and first.status == Feedback.Status.PENDING
    _, created_by_other = feedback_flag(prediction=p, label=other, session_key="someone-else")
    assert created_by_other and Feedback.objects.count() == 2


def test_flag_equal_to_the_prediction_is_refused(active_model):
    """A correction that names the predicted label is refused."""
    p = review_submit(text="loved it", session_key="s")
    with pytest.raises(ValidationError, match="must name the other label"):
        feedback_flag(prediction=p, label=p.label, session_key="s")


def test_approve_and_reject_record_who_and_when(active_model, staff):
    """Approving or rejecting records the reviewer, the time and the note."""
    p = review_submit(text="loved it", session_key="s")
    other = "negative" if p.label == "positive" else "positive"
    f, _ = feedback_flag(prediction=p, label=other, session_key="s")
    f = feedback_approve(feedback=f, reviewer=staff, note="clearly sarcastic")
    assert f.status == Feedback.Status.APPROVED and f.reviewed_by == staff and f.reviewed_at and f.review_note
    f = feedback_reject(feedback=f, reviewer=staff)
    assert f.status == Feedback.Status.REJECTED


def test_database_refuses_bad_probabilities_second_flags_and_same_label(active_model):
    """Constraints: probability 1.5, a second flag by one person, a 'correction' equal to the prediction."""
    p = review_submit(text="loved it", session_key="s")
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.filter(pk=p.pk).update(prob_positive=1.5)
    other = "negative" if p.label == "positive" else "positive"
    Feedback.objects.create(prediction=p, predicted_label=p.label, corrected_label=other, reporter="session:s")
    with pytest.raises(IntegrityError), transaction.atomic():
        Feedback.objects.create(prediction=p, predicted_label=p.label, corrected_label=other, reporter="session:s")
    with pytest.raises(IntegrityError), transaction.atomic():
        Feedback.objects.create(prediction=p, predicted_label=p.label, corrected_label=p.label, reporter="session:t")
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(text="")
