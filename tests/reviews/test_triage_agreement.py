"""Flag triage (how likely a flag is right, and why), moderators' agreement and the two-moderator
rule, and the dashboard's monitoring of predictions and the backlog."""

import pytest
from django.utils.html import escape

from reviews.models import Feedback, ModerationDecision
from reviews.moderation import moderation_facts, moderator_agreement
from reviews.selectors import corrections_unused
from reviews.services.feedback import feedback_approve, feedback_flag, feedback_reject
from reviews.services.label_queue import queue_label
from reviews.services.reviews import review_submit
from tests.reviews.conftest import moderator
from reviews.worker.moderation import triage_flags
from tests.tiny import write_aclimdb

pytestmark = pytest.mark.django_db


def flag(text, who, *, label=None, ip=None):
    prediction = review_submit(text=text, session_key=who)
    other = label or ("negative" if prediction.label == "positive" else "positive")
    return feedback_flag(prediction=prediction, label=other, session_key=who, client_ip=ip)[0]


@pytest.fixture
def toy_data_source(settings, tmp_path):
    """Triage fits its own n-gram model for a version without one: on the toy data, not the packaged."""
    settings.SENTIMENT_DATA_SOURCE = f"aclimdb:{write_aclimdb(tmp_path / 'acl')}"
    settings.SENTIMENT_DATA_SPLIT = (18000, 60, 5000)
    settings.SENTIMENT_CACHE_DIR = tmp_path / "cache"


def test_every_pending_flag_gets_a_score_and_reasons(active_model, toy_data_source, staff):
    """Scores in 0-1 with one reason per signal; decided flags and queue labels are not scored."""
    flags = [flag(f"a film about number {i} that was fine", f"person{i}", ip=f"203.0.113.{i}") for i in range(3)]
    decided = flag("another film entirely, rather long", "person9")
    feedback_reject(feedback=decided, reviewer=staff)
    label, _ = queue_label(prediction=review_submit(text="labelled from the queue", session_key="x"),
                           label="positive", moderator=staff)
    assert triage_flags() == 3
    for f in flags:
        f.refresh_from_db()
        assert 0 < f.triage_score < 1 and len(f.triage["reasons"]) == 4
        assert f.triage["version"] == active_model.id and not f.triage["calibrated"]
        assert set(f.triage["signals"]) == {"ngram", "transformer", "source", "votes"}
    decided.refresh_from_db()
    label.refresh_from_db()
    assert decided.triage_score is None and label.triage_score is None
    assert triage_flags() == 0  # nothing changed since


def test_a_source_with_rejected_flags_and_disagreeing_votes_scores_lower(active_model, toy_data_source, staff):
    """Same text and label, two sources: the one whose past flags were rejected, and who others
    contradict, ranks below the one with an approved record whom others back."""
    text = "the same text flagged by several people"
    prediction = review_submit(text=text, session_key="a")
    wrong_label = "negative" if prediction.label == "positive" else "positive"
    for i in range(3):  # a history of rejected flags for source "client:...1"
        feedback_reject(feedback=flag(f"junk {i}", "bad", ip="198.51.100.1"), reviewer=staff)
    feedback_approve(feedback=flag("good one", "good", ip="198.51.100.2"), reviewer=staff)
    bad = feedback_flag(prediction=prediction, label=wrong_label, session_key="bad", client_ip="198.51.100.1")[0]
    good = feedback_flag(prediction=review_submit(text=text, session_key="good"), label=wrong_label,
                         session_key="good", client_ip="198.51.100.2")[0]
    triage_flags()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert good.triage_score > bad.triage_score
    assert bad.triage["facts"]["source_rejected"] == 3 and good.triage["facts"]["source_approved"] == 1
    assert good.triage["facts"]["votes_agree"] == 1 and bad.triage["facts"]["votes_agree"] == 1


def test_the_moderation_list_sorts_and_filters_by_triage(active_model, toy_data_source, staff, staff_api):
    """order=triage puts the likeliest-right first; triage_min/max filter; the reasons are in the answer."""
    for i in range(4):
        flag(f"some film {i} with words", f"p{i}", ip=f"192.0.2.{i}")
    triage_flags()
    scores = sorted(Feedback.objects.values_list("triage_score", flat=True), reverse=True)
    body = staff_api.get("/api/v1/feedback", {"order": "triage"}).json()
    assert [r["triage_score"] for r in body["results"]] == scores and len(body["results"][0]["triage_reasons"]) == 4
    assert [r["triage_score"] for r in staff_api.get("/api/v1/feedback", {"order": "-triage"}).json()["results"]] == scores[::-1]
    middle = scores[1]
    kept = staff_api.get("/api/v1/feedback", {"triage_min": middle}).json()["results"]
    assert {r["triage_score"] for r in kept} == {s for s in scores if s >= middle}
    assert staff_api.get("/api/v1/feedback", {"triage_min": 2}).status_code == 400


def test_the_admin_list_sorts_and_filters_by_triage(active_model, toy_data_source, staff, client):
    """The admin's moderation list shows the score, sorts by it and filters by range."""
    for i in range(3):
        flag(f"a film worth a flag, number {i} of several", f"p{i}", ip=f"192.0.2.{i}")
    client.force_login(staff)
    assert client.get("/admin/reviews/feedback/?triage=unscored").context["cl"].result_count == 3
    triage_flags()
    page = client.get("/admin/reviews/feedback/?o=5")  # the triage column
    assert page.status_code == 200 and "triage" in page.content.decode()
    shown = [f.triage_score for f in page.context["cl"].result_list]
    assert shown == sorted(Feedback.objects.values_list("triage_score", flat=True))
    assert client.get("/admin/reviews/feedback/?triage=unscored").context["cl"].result_count == 0
    f = Feedback.objects.order_by("pk").first()
    detail = client.get(f"/admin/reviews/feedback/{f.pk}/change/").content.decode()
    assert escape(f.triage["reasons"][0]) in detail


def test_votes_on_a_text_are_counted_by_label(active_model, staff):
    """Flags and labels on a text that were not rejected, by label, this one included."""
    text = "a text three people corrected"
    first = flag(text, "a")
    flag(text, "b")
    feedback_reject(feedback=flag(text, "c"), reviewer=staff)
    confirmed = review_submit(text=text, session_key="m")
    queue_label(prediction=confirmed, label=confirmed.label, moderator=staff)
    assert moderation_facts([first])[first.pk].votes == {first.corrected_label: 2, confirmed.label: 1}
    assert moderation_facts([first])[first.pk].conflict


def test_with_two_approvals_required_a_correction_trains_only_once_two_moderators_agree(
        active_model, settings, staff, django_user_model, staff_api):
    """One approval leaves the flag pending (and untrained); a second moderator's makes it
    approved; the same moderator approving twice counts once."""
    settings.SENTIMENT_MODERATION_APPROVALS_TO_TRAIN = 2
    second = moderator(django_user_model, "second")
    f = flag("a film two moderators must agree on", "someone")
    assert feedback_approve(feedback=f, reviewer=staff).status == "pending"
    assert feedback_approve(feedback=f, reviewer=staff).status == "pending"
    assert corrections_unused() == []
    decided = feedback_approve(feedback=f, reviewer=second)
    assert decided.status == "approved"
    assert [c.id for c in corrections_unused()] == ([] if decided.is_holdout else [f.pk])
    body = staff_api.get("/api/v1/audit", {"object_id": f.pk}).json()
    assert [e["after"]["approvals"] for e in body["results"]] == [2, 1, 1]


def test_raising_the_rule_holds_back_corrections_approved_by_one(active_model, settings, staff):
    """Corrections approved under the one-moderator rule wait for a second once it is raised."""
    f = feedback_approve(feedback=flag("approved under the old rule", "someone"), reviewer=staff)
    if f.is_holdout:
        pytest.skip("held out by the keyed hash: never a training correction")
    assert [c.id for c in corrections_unused()] == [f.pk]
    settings.SENTIMENT_MODERATION_APPROVALS_TO_TRAIN = 2
    assert corrections_unused() == []


def test_a_queue_label_with_two_required_waits_for_a_second_moderator(active_model, settings, staff,
                                                                       django_user_model):
    """The first moderator's label is pending until another agrees; a disagreement rejects it."""
    settings.SENTIMENT_MODERATION_APPROVALS_TO_TRAIN = 2
    second = moderator(django_user_model, "second")
    label, _ = queue_label(prediction=review_submit(text="labelled once", session_key="x"), label="positive",
                           moderator=staff)
    assert label.status == "pending"
    assert feedback_reject(feedback=label, reviewer=second).status == "rejected"


def test_kappa_is_cohens_on_texts_two_moderators_decided(active_model, staff, django_user_model):
    """Each moderator's view of a text is the label they believe right (approve: the flag's,
    reject: the other); kappa over the pairs equals scikit-learn's; volume per moderator."""
    from sklearn.metrics import cohen_kappa_score

    second = moderator(django_user_model, "second")
    assert moderator_agreement()["kappa"] is None
    a_views, b_views = [], []
    plan = [(True, True), (True, False), (False, False), (True, True), (False, True), (True, True)]
    for i, (a_approves, b_approves) in enumerate(plan):
        f = flag(f"doubly reviewed text number {i}", f"p{i}")
        (feedback_approve if a_approves else feedback_reject)(feedback=f, reviewer=staff)
        (feedback_approve if b_approves else feedback_reject)(feedback=f, reviewer=second)
        other = "negative" if f.corrected_label == "positive" else "positive"
        a_views.append(f.corrected_label if a_approves else other)
        b_views.append(f.corrected_label if b_approves else other)
    flag_once = flag("decided by one moderator only", "q")
    feedback_approve(feedback=flag_once, reviewer=staff)
    agreement = moderator_agreement()
    assert agreement["pairs"] == 6 and agreement["texts"] == 6
    assert agreement["kappa"] == pytest.approx(cohen_kappa_score(a_views, b_views))
    assert agreement["agreed"] == sum(a == b for a, b in zip(a_views, b_views))
    volume = {m["name"]: m for m in agreement["moderators"]}
    assert volume["staff"]["decisions"] == 7 and volume["second"]["decisions"] == 6
    assert volume["second"]["approved"] == 4 and volume["second"]["rejected"] == 2
    assert ModerationDecision.objects.count() == 13


def test_monitoring_counts_flag_rate_confidence_and_backlog(active_model, staff, settings):
    """Per version and day: predictions and flags (not queue labels); the confidence histogram
    holds every prediction; the low-confidence share and the backlog are counted."""
    from reviews.models import Prediction
    from reviews.monitoring import monitoring_stats

    predictions = [review_submit(text=f"film number {i} was something", session_key=f"s{i}") for i in range(6)]
    feedback_flag(prediction=predictions[0], label="negative" if predictions[0].label == "positive" else "positive",
                  session_key="s0")
    queue_label(prediction=predictions[1], label=predictions[1].label, moderator=staff)
    watch = monitoring_stats(low_confidence=1.01)  # every prediction counts as low-confidence
    (version,) = watch["flag_rate"]
    (today,) = version["days"]
    assert version["id"] == active_model.id and (today["predictions"], today["flags"]) == (6, 1)
    assert sum(b["count"] for b in watch["histogram"]) == Prediction.objects.count() == 6
    assert watch["low_share"][0]["share"] == 1.0
    assert watch["backlog"]["pending_flags"] == 1 and watch["backlog"]["unscored_flags"] == 1


def test_the_dashboard_draws_the_monitoring_charts_and_agreement(active_model, staff, client):
    """The dashboard shows the charts (with titles, for screen readers), their tables, the queue
    size and the agreement line."""
    for i in range(3):
        flag(f"a dashboard film {i}", f"d{i}")
    client.force_login(staff)
    html = client.get("/dashboard/").content.decode()
    for anchor in ('id="flag-rate-title"', 'id="confidence-title"', 'id="low-share-title"', 'id="flag-rate-table"',
                   'id="queue-count"', 'id="agreement"', 'id="pending-flags"'):
        assert anchor in html
    assert "no text has been decided by two moderators yet" in html


def test_monitoring_bins_and_low_share_are_exact_at_their_edges():
    """One grouped pass: each confidence falls in the bin its lower edge opens (1.0 in the last),
    and a threshold that is no bin edge (0.72) still counts exactly those below it."""
    from django.utils import timezone

    from reviews.models import ModelVersion, Prediction, Review
    from reviews.monitoring import monitoring_stats

    version = ModelVersion.objects.create(id="v-edges", base_model="tiny", created_at=timezone.now())
    for c in (0.5, 0.55, 0.6, 0.71, 0.72, 0.75, 0.95, 0.999, 1.0):
        Prediction.objects.create(review=Review.objects.create(text=f"c {c}"), model_version=version, label="positive",
                                  confidence=c, prob_negative=1 - c, prob_positive=c, latency_ms=1.0)
    watch = monitoring_stats(low_confidence=0.72)
    assert [b["count"] for b in watch["histogram"]] == [1, 1, 1, 0, 2, 1, 0, 0, 0, 3]
    (day,) = watch["low_share"]
    assert (day["predictions"], day["low"]) == (9, 4)
