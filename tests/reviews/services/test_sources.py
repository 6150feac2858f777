"""Who is speaking, one text one vote, and a held-out set nobody outside can pick (issue 19)."""

import pytest
from django.contrib.auth.models import Permission

from reviews import selectors
from reviews.models import Feedback, FeedbackSource
from reviews.services.feedback import feedback_approve, feedback_flag, feedback_reject, network_for
from reviews.services.reviews import review_submit

pytestmark = pytest.mark.django_db


def flag(text, *, label=None, session_key="s", client_ip="203.0.113.7", user=None):
    p = review_submit(text=text, session_key=session_key, client_ip=client_ip, user=user)
    other = label or ("negative" if p.label == "positive" else "positive")
    if other == p.label:
        return None
    f, _ = feedback_flag(prediction=p, label=other, session_key=session_key, client_ip=client_ip, user=user)
    return f


def test_three_cookie_jars_from_one_address_are_one_source(active_model):
    """The issue: three fresh cookie jars from one address made three reporters. They stay three
    reporters (one flag each per prediction) but are one source for the loop's caps."""
    flags = [flag(f"a review number {i}", session_key=f"jar{i}") for i in range(3)]
    assert len({f.reporter for f in flags}) == 3
    assert len({f.source for f in flags}) == 1 and flags[0].source.startswith("client:")
    assert "203.0.113.7" not in flags[0].source


def test_an_ipv6_client_is_its_64_and_its_network_the_48(active_model):
    a = flag("one text", client_ip="2001:db8:1:2::1", session_key="x")
    b = flag("two text", client_ip="2001:db8:1:2:ffff::9", session_key="y")
    c = flag("three text", client_ip="2001:db8:1:3::1", session_key="z")
    assert a.source == b.source != c.source
    assert a.network == c.network and a.network.startswith("net:")
    assert network_for("198.51.100.1") == network_for("198.51.100.254") != network_for("198.51.101.1")
    assert network_for(None) == ""


def test_signed_in_sources_and_who_is_trusted(active_model, member, staff, django_user_model):
    plain = flag("member text", user=member)
    assert plain.source == f"user:{member.pk}" and not plain.trusted
    moderator = flag("staff text", user=staff)
    assert moderator.trusted
    trusted = django_user_model.objects.create_user("trusted", password="pw-trusted-123")
    trusted.user_permissions.add(Permission.objects.get(codename="trusted_reporter"))
    trusted = django_user_model.objects.get(pk=trusted.pk)
    assert flag("trusted text", user=trusted).trusted


def test_a_source_history_is_kept_and_follows_decisions(active_model, staff):
    flags = [flag(f"history text {i}", session_key=f"h{i}") for i in range(3)]
    source = flags[0].source
    feedback_approve(feedback=flags[0], reviewer=staff)
    feedback_reject(feedback=flags[1], reviewer=staff)
    feedback_reject(feedback=flags[0], reviewer=staff)  # changed its mind
    record = FeedbackSource.objects.get(source=source)
    assert (record.flags, record.approved, record.rejected) == (3, 0, 2)
    assert selectors.feedback_source_history([source])[source] == {"flags": 3, "approved": 0, "rejected": 2, "pending": 1}
    Feedback.objects.all().delete()  # retention deletes flags; the record stays
    assert FeedbackSource.objects.get(source=source).rejected == 2


def test_spellings_of_one_text_share_one_key_and_one_side_of_the_holdout(active_model, staff, settings):
    settings.SENTIMENT_GATE_HOLDOUT_SHARE = 0.5
    a = flag("Great  film!", session_key="p", client_ip="192.0.2.1")
    b = flag("great film!\u200b<br/>", session_key="q", client_ip="192.0.2.2")
    assert a.text_hash == b.text_hash
    sides = set()
    for i in range(12):
        f = flag(f"Some <i>text</i> {i}", session_key=f"k{i}", client_ip=f"192.0.2.{10 + i}")
        copy = flag(f"SOME text {i}\u200d", session_key=f"c{i}", client_ip=f"192.0.2.{40 + i}")
        f, copy = feedback_approve(feedback=f, reviewer=staff), feedback_approve(feedback=copy, reviewer=staff)
        assert f.is_holdout == copy.is_holdout
        sides.add(f.is_holdout)
    assert sides == {True, False}


def test_holdout_membership_depends_on_the_secret_key(active_model, staff, settings):
    """Which texts are held out is keyed with SECRET_KEY, not a public function of the id."""
    texts = [f"keyed text {i}" for i in range(40)]
    flags = [flag(t, session_key=f"s{i}", client_ip=f"198.51.100.{i + 1}") for i, t in enumerate(texts)]
    first = [feedback_approve(feedback=f, reviewer=staff).is_holdout for f in flags]
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    second = [feedback_approve(feedback=f, reviewer=staff).is_holdout for f in flags]
    assert first != second


def test_a_text_corrected_to_both_labels_is_a_conflict_and_never_used(active_model, staff):
    p = review_submit(text="contested review text", session_key="a", client_ip="192.0.2.1")
    q = review_submit(text="Contested review text", session_key="b", client_ip="192.0.2.2")
    # The same text: one prediction is flagged positive, the other negative (the predictions agree).
    first, _ = feedback_flag(prediction=p, label="negative" if p.label == "positive" else "positive", session_key="a")
    q.label = first.corrected_label
    q.save()
    second, _ = feedback_flag(prediction=q, label=p.label, session_key="b")
    assert first.corrected_label != second.corrected_label and first.text_hash == second.text_hash
    assert selectors.conflicting_text_hashes() == {first.text_hash}
    for f in (first, second):
        feedback_approve(feedback=f, reviewer=staff)
    Feedback.objects.update(is_holdout=False)
    assert selectors.corrections_unused() == []
    Feedback.objects.update(is_holdout=True)
    assert selectors.corrections_held_out() == ([], [])
    feedback_reject(feedback=second, reviewer=staff)
    assert selectors.conflicting_text_hashes() == set()


def test_held_out_check_counts_at_most_a_few_per_source(active_model, staff, settings):
    """Stratified by source: one source's 30 held-out flags count as SENTIMENT_GATE_HOLDOUT_PER_SOURCE."""
    settings.SENTIMENT_GATE_HOLDOUT_PER_SOURCE = 4
    for i in range(30):
        feedback_approve(feedback=flag(f"one source text {i}", session_key=f"r{i}"), reviewer=staff)
    for i in range(3):
        feedback_approve(feedback=flag(f"other text {i}", session_key=f"o{i}", client_ip=f"192.0.2.{i + 1}"), reviewer=staff)
    Feedback.objects.update(is_holdout=True)
    texts, labels = selectors.corrections_held_out()
    assert len(texts) == 4 + 3 and len(labels) == 7


def test_a_text_a_promoted_run_learnt_is_not_used_again(active_model, staff):
    from reviews.models import TrainingRun

    first = feedback_approve(feedback=flag("learnt once", session_key="a", client_ip="192.0.2.1"), reviewer=staff)
    again = feedback_approve(feedback=flag("LEARNT once", session_key="b", client_ip="192.0.2.2"), reviewer=staff)
    Feedback.objects.update(is_holdout=False)
    run = TrainingRun.objects.create(trigger="manual")
    Feedback.objects.filter(pk=first.pk).update(training_run=run)
    assert [c.id for c in selectors.corrections_unused()] == []
    assert again.text_hash == first.text_hash


def test_a_text_is_on_one_side_only_even_when_its_copies_fell_on_both(active_model, staff):
    """Copies of one text on both sides of the held-out split (a changed share or key): it is never
    trained on; once a promoted run learnt it, it no longer tests a candidate."""
    from reviews.models import TrainingRun

    held = feedback_approve(feedback=flag("split text", session_key="a", client_ip="192.0.2.1"), reviewer=staff)
    trained = feedback_approve(feedback=flag("Split  text", session_key="b", client_ip="192.0.2.2"), reviewer=staff)
    Feedback.objects.filter(pk=held.pk).update(is_holdout=True)
    Feedback.objects.filter(pk=trained.pk).update(is_holdout=False)
    assert selectors.corrections_unused() == [] and selectors.corrections_waiting() == 0
    assert len(selectors.corrections_held_out()[0]) == 1
    Feedback.objects.filter(pk=trained.pk).update(training_run=TrainingRun.objects.create(trigger="manual"))
    assert selectors.corrections_held_out() == ([], [])


def test_corrections_waiting_counts_what_a_retrain_can_learn(active_model, staff, settings):
    """Twenty copies of one text are one correction; twenty texts of one source are the cap."""
    settings.SENTIMENT_RETRAIN_MAX_PER_SOURCE = 5
    for i in range(20):
        feedback_approve(feedback=flag("the same text " + " " * i, session_key=f"c{i}", client_ip=f"198.51.100.{i + 1}"),
                         reviewer=staff)
    Feedback.objects.update(is_holdout=False)
    assert selectors.corrections_waiting() == 1
    for i in range(20):
        feedback_approve(feedback=flag(f"one source text {i}", session_key=f"s{i}", client_ip="192.0.2.9"), reviewer=staff)
    Feedback.objects.update(is_holdout=False)
    assert selectors.corrections_waiting() == 1 + 5


def test_trust_is_asked_again_when_a_retrain_uses_the_correction(active_model, staff, django_user_model):
    """Taking the trusted-reporter permission away un-trusts the account's waiting corrections;
    giving it trusts the ones it flagged before."""
    reporter = django_user_model.objects.create_user("reporter", password="pw-reporter-123")
    permission = Permission.objects.get(codename="trusted_reporter")
    reporter.user_permissions.add(permission)
    reporter = django_user_model.objects.get(pk=reporter.pk)
    early = feedback_approve(feedback=flag("trusted once", user=reporter), reviewer=staff)
    assert early.trusted
    Feedback.objects.update(is_holdout=False)
    assert [c.trusted for c in selectors.corrections_unused()] == [True]
    reporter.user_permissions.remove(permission)
    assert [c.trusted for c in selectors.corrections_unused()] == [False]
    late = django_user_model.objects.create_user("late", password="pw-late-123")
    feedback_approve(feedback=flag("flagged before the permission", user=late), reviewer=staff)
    Feedback.objects.update(is_holdout=False)
    late.user_permissions.add(permission)
    assert [c.trusted for c in selectors.corrections_unused()] == [False, True]
