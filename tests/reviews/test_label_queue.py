"""The "Needs a label" queue: scored by the worker with the active version, most uncertain first,
flagged and labelled texts left out, near-duplicates shown once; a label is a trusted correction."""

import pytest

from modeling.config import LABEL2ID
from reviews.models import AuditEvent, Feedback, QueueScore
from reviews.moderation import label_queue, label_queue_size
from reviews.selectors import corrections_unused
from reviews.services.feedback import feedback_flag
from reviews.services.label_queue import queue_label, queue_skip
from reviews.services.reviews import review_submit
from tests.reviews.conftest import moderator
from reviews.worker.moderation import score_queue

pytestmark = pytest.mark.django_db

TEXTS = ["an uneven film with a few bright moments and long dull stretches between them",
         "wonderful acting and a moving story i loved every minute of it",
         "the worst thing i have seen this year boring and badly written",
         "not bad not great somewhere in the middle like most sequels",
         "a quiet drama that some will find slow and others will find beautiful"]


def submit(text, who="someone"):
    return review_submit(text=text, session_key=who)


def test_the_worker_scores_predictions_with_the_active_version_and_the_queue_is_most_uncertain_first(
        active_model, staff):
    """The active version's own predictions keep their probabilities; the queue orders by margin."""
    predictions = [submit(t) for t in TEXTS]
    assert score_queue() == len(TEXTS)
    assert score_queue() == 0  # nothing new
    for p in predictions:
        score = QueueScore.objects.get(prediction=p)
        assert score.prob_positive == p.prob_positive
        assert score.margin == pytest.approx(abs(2 * score.prob_positive - 1), abs=1e-6)
    items = label_queue(moderator=staff)
    margins = [item.margin for item in items]
    assert margins == sorted(margins) and len(items) == len(TEXTS)
    assert label_queue(moderator=staff, measure="entropy")[0].prediction == items[0].prediction
    assert 0 <= items[0].entropy <= 1 and items[0].uncertainty == pytest.approx(1 - items[0].margin)
    with pytest.raises(ValueError):
        label_queue(measure="loudness")


def test_a_new_active_version_scores_the_queue_afresh(active_model, model_store):
    """Scores of another version are dropped and the predictions are scored again by the new one."""
    from reviews.services.model_versions import model_version_activate, model_version_register
    from reviews.worker.explanations import explainer_for

    p = submit(TEXTS[0])
    score_queue()
    other = model_version_register(version_id=model_store[1].id)
    model_version_activate(version=other)
    assert score_queue() == 1
    (score,) = QueueScore.objects.all()
    expected = explainer_for(other, active=True).predict_proba([TEXTS[0]])[0][LABEL2ID["positive"]]
    assert score.model_version_id == other.id and score.prediction == p
    assert score.prob_positive == pytest.approx(float(expected), abs=1e-6)


def test_flagged_and_labelled_texts_and_a_moderators_skips_leave_the_queue(active_model, staff, django_user_model):
    """A text flagged anywhere (any copy of it) leaves everyone's queue; a skip only the skipper's."""
    flagged, copy, skipped, kept = submit(TEXTS[0]), submit(TEXTS[0].upper(), "another"), submit(TEXTS[1]), submit(TEXTS[2])
    score_queue()
    assert label_queue_size(moderator=staff) == 3  # the two copies are one text
    other = "negative" if flagged.label == "positive" else "positive"
    feedback_flag(prediction=flagged, label=other, session_key="someone")
    assert queue_skip(prediction=skipped, moderator=staff) and not queue_skip(prediction=skipped, moderator=staff)
    assert [i.prediction for i in label_queue(moderator=staff)] == [kept]
    second = moderator(django_user_model, "second")
    assert {i.prediction for i in label_queue(moderator=second)} == {skipped, kept}
    assert copy not in {i.prediction for i in label_queue(moderator=second)}


def test_near_duplicates_are_shown_once_with_their_copies(active_model, staff, settings):
    """Two texts differing in one word are one item; the other is listed as its copy."""
    settings.SENTIMENT_QUEUE_NEAR_DUPLICATE = 0.6
    a = submit("the plot was thin but the actors carried every scene with real warmth and wit")
    b = submit("the plot was thin but the actors carried every scene with real charm and wit")
    c = submit(TEXTS[2])
    score_queue()
    items = label_queue(moderator=staff)
    assert len(items) == 2
    (pair,) = [i for i in items if i.prediction in (a, b)]
    assert pair.copies == [({a, b} - {pair.prediction}).pop().pk]
    assert c in {i.prediction for i in items}


def test_a_label_is_an_approved_trusted_correction_even_when_it_agrees(active_model, staff):
    """Agreeing or not, the label is approved, trusted, audited, and the retrain learns it."""
    agree, disagree = submit(TEXTS[0]), submit(TEXTS[1])
    score_queue()
    other = "negative" if disagree.label == "positive" else "positive"
    same, created = queue_label(prediction=agree, label=agree.label, moderator=staff, note="obvious")
    flip, _ = queue_label(prediction=disagree, label=other, moderator=staff)
    assert created and same.kind == Feedback.Kind.LABEL and same.corrected_label == same.predicted_label
    for f in (same, flip):
        assert (f.status, f.trusted, f.reviewed_by, f.source) == ("approved", True, staff, f"user:{staff.pk}")
    assert {c.id for c in corrections_unused()} == {f.pk for f in (same, flip) if not f.is_holdout}
    event = AuditEvent.objects.get(action="queue.label", object_id=str(same.pk))
    assert event.actor == staff.username and event.after["corrected_label"] == agree.label and event.note == "obvious"
    assert label_queue(moderator=staff) == []


def test_labelling_twice_keeps_the_first_label(active_model, staff):
    """A repeated key press or a second tab stores nothing new."""
    p = submit(TEXTS[0])
    first, created = queue_label(prediction=p, label="positive", moderator=staff)
    again, created_again = queue_label(prediction=p, label="negative", moderator=staff)
    assert created and not created_again and again.pk == first.pk and again.corrected_label == "positive"
    assert Feedback.objects.count() == 1


def test_only_moderators_label(active_model, member):
    """A signed-in user without the permission is refused."""
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        queue_label(prediction=submit(TEXTS[0]), label="positive", moderator=member)


def test_the_api_lists_the_queue_and_labels_skips_and_refuses(active_model, staff, staff_api, member_api):
    """GET /api/v1/queue and POST /api/v1/queue/{id}/label, as a script would use them."""
    predictions = [submit(t) for t in TEXTS[:3]]
    score_queue()
    body = staff_api.get("/api/v1/queue", {"limit": 2}).json()
    assert body["size"] == 3 and body["measure"] == "margin" and len(body["results"]) == 2
    first = body["results"][0]
    assert set(first) >= {"id", "review_id", "text", "predicted_label", "prob_positive", "margin", "entropy", "copies"}
    answer = staff_api.post(f"/api/v1/queue/{first['id']}/label", {"label": "positive"}, format="json")
    assert answer.status_code == 201 and answer.json()["kind"] == "label" and answer.json()["status"] == "approved"
    assert staff_api.post(f"/api/v1/queue/{first['id']}/label", {"label": "positive"}, format="json").status_code == 200
    second = staff_api.get("/api/v1/queue").json()["results"][0]["id"]
    assert staff_api.post(f"/api/v1/queue/{second}/label", {"label": "skip"}, format="json").status_code == 204
    assert staff_api.get("/api/v1/queue").json()["size"] == 1
    assert staff_api.post(f"/api/v1/queue/{second}/label", {"label": "maybe"}, format="json").status_code == 400
    assert staff_api.post(f"/api/v1/queue/{second}/label", {"label": 1}, format="json").status_code == 400
    assert staff_api.post("/api/v1/queue/999999/label", {"label": "positive"}, format="json").status_code == 404
    assert staff_api.get("/api/v1/queue", {"measure": "loudness"}).status_code == 400
    assert member_api.get("/api/v1/queue").status_code == 403
    assert member_api.post(f"/api/v1/queue/{predictions[0].pk}/label", {"label": "positive"},
                           format="json").status_code == 403


def test_the_page_shows_the_shortcuts_and_labels_without_javascript(active_model, staff, client):
    """The page lists the items with the keys; a form post labels and comes back to the queue."""
    p = submit(TEXTS[0])
    score_queue()
    client.force_login(staff)
    page = client.get("/queue/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-key="n"' in html and 'data-key="p"' in html and 'data-key="s"' in html and "<kbd>j</kbd>" in html
    assert TEXTS[0] in html
    answer = client.post(f"/queue/{p.pk}/label/", {"label": "negative", "measure": "entropy"})
    assert answer.status_code == 302 and answer["Location"].endswith("/queue/?measure=entropy")
    assert Feedback.objects.get(prediction=p).corrected_label == "negative"
    assert "Nothing to label" in client.get("/queue/").content.decode()


def test_the_page_is_for_moderators_only(active_model, member, client):
    """A signed-in user without staff rights is sent to sign in; posting does nothing."""
    p = submit(TEXTS[0])
    client.force_login(member)
    assert client.get("/queue/").status_code == 302
    client.post(f"/queue/{p.pk}/label/", {"label": "negative"})
    assert not Feedback.objects.exists()
