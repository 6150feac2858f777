"""Moderation that shows the truth (issue 19): moderators see the text as the model reads it with
its invisible and direction-changing characters written out, the source's history, the other flags
on the same text and whether they conflict; bulk approval of many flags asks first."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviews.conf import conf
from reviews.models import Feedback, Prediction
from reviews.moderation import moderation_facts
from reviews.selectors import conflicting_text_hashes
from reviews.services.feedback import feedback_approve, feedback_flag, feedback_reject
from reviews.services.reviews import review_submit, review_submit_many
from reviews.text_display import invisible_characters, invisible_summary, model_reads, reveal, visible_text
from tests.reviews.conftest import token_client

pytestmark = pytest.mark.django_db

RLO = "\u202e"
ZWSP = "\u200b"
RLO_MARK = '<span class="reveal" title="U+202E RIGHT-TO-LEFT OVERRIDE">⟦U+202E RIGHT-TO-LEFT OVERRIDE⟧</span>'
ZWSP_MARK = '<span class="reveal" title="U+200B ZERO WIDTH SPACE">⟦U+200B ZERO WIDTH SPACE⟧</span>'
# Stored with an entity the moderator's eye skips; the model reads a real RIGHT-TO-LEFT OVERRIDE.
TRICKY = "<i>Great</i> film&#8238;!"
TRICKY_MODEL = f"Great film{RLO}!"


def other(label: str) -> str:
    return "negative" if label == "positive" else "positive"


# --- reveal() and friends ----------------------------------------------------------------------


def test_reveal_escapes_markup_and_shows_a_right_to_left_override_and_a_zero_width_space():
    """Markup is escaped, never rendered; an RLO and a ZWSP become marked spans, and neither
    character is left in the output."""
    shown = reveal(f'<script>alert("x")</script> bad{RLO}doog wo{ZWSP}rd')
    assert shown.startswith("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; bad")
    assert "<script>" not in shown
    assert f"bad{RLO_MARK}doog wo{ZWSP_MARK}rd" in shown
    assert RLO not in shown and ZWSP not in shown


def test_reveal_leaves_normal_text_alone():
    """Letters of any script, spaces, tabs and newlines (also CRLF) are what they look like."""
    text = "A fine film.\r\nTwo\tlines, café, 東京, עברית, ünïcödé — 10/10"
    assert reveal(text) == text
    assert visible_text(text) == text and invisible_characters(text) == [] and invisible_summary(text) == ""


@pytest.mark.parametrize("ch, name", [
    ("\u00a0", "NO-BREAK SPACE"), ("\u00ad", "SOFT HYPHEN"), ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
    ("\u200d", "ZERO WIDTH JOINER"), ("\u200f", "RIGHT-TO-LEFT MARK"), ("\u061c", "ARABIC LETTER MARK"),
    ("\u2066", "LEFT-TO-RIGHT ISOLATE"), ("\u202a", "LEFT-TO-RIGHT EMBEDDING"), ("\u2029", "PARAGRAPH SEPARATOR"),
    ("\x07", "BELL"), ("\x1b", "ESCAPE"), ("\r", "CARRIAGE RETURN"), ("\u3000", "IDEOGRAPHIC SPACE"),
])
def test_every_kind_of_hidden_character_is_written_out(ch, name):
    """Format and control characters, unusual spaces and separators are shown by code point and name."""
    label = f"U+{ord(ch):04X} {name}"
    assert reveal(f"a{ch}b") == f'a<span class="reveal" title="{label}">⟦{label}⟧</span>b'
    assert visible_text(f"a{ch}b") == f"a⟦{label}⟧b"


def test_visible_text_and_the_summary_of_invisible_characters():
    """The API's plain-text markers, and a count per character in order of appearance."""
    text = f"a{ZWSP}b{ZWSP}c{RLO}<b>"
    assert visible_text(text) == "a⟦U+200B ZERO WIDTH SPACE⟧b⟦U+200B ZERO WIDTH SPACE⟧c⟦U+202E RIGHT-TO-LEFT OVERRIDE⟧<b>"
    assert invisible_characters(text) == [{"code_point": "U+200B", "name": "ZERO WIDTH SPACE", "count": 2},
                                          {"code_point": "U+202E", "name": "RIGHT-TO-LEFT OVERRIDE", "count": 1}]
    assert invisible_summary(text) == "3 invisible characters: U+200B ×2, U+202E"
    assert invisible_summary(RLO) == "1 invisible character: U+202E"


def test_model_reads_what_clean_text_makes_of_it():
    """Tags removed, entities decoded (an encoded RLO becomes a real one), whitespace collapsed."""
    assert model_reads(TRICKY) == TRICKY_MODEL
    assert RLO not in TRICKY and "⟦U+202E" not in reveal(TRICKY) and RLO_MARK in reveal(model_reads(TRICKY))


# --- A small world of flags ---------------------------------------------------------------------


def submitted(text: str, *, label: str | None = None) -> Prediction:
    """A stored review and its prediction; with `label`, a prediction of that label (as another
    model version could have made) on the same review."""
    prediction = review_submit(text=text, session_key="writer")
    if label is not None and label != prediction.label:
        prediction = Prediction.objects.create(
            review=prediction.review, model_version=prediction.model_version, label=label, confidence=0.9,
            prob_negative=0.9 if label == "negative" else 0.1, prob_positive=0.1 if label == "negative" else 0.9,
            latency_ms=1.0)
    return prediction


def flag(prediction: Prediction, *, user=None, session: str = "", ip: str | None = None, label: str | None = None):
    return feedback_flag(prediction=prediction, label=label or other(prediction.label), user=user,
                         session_key=session, client_ip=ip)[0]


@pytest.fixture
def world(active_model, member, staff):
    """f1: the member's pending flag on TRICKY (the member also has one approved and one rejected
    flag); f2: an anonymous client's flag on the same text; f3: a flag correcting that text to the
    other label (a conflict); plain: an unrelated flag with nothing to see."""
    approved = flag(submitted("an approved one"), user=member)
    feedback_approve(feedback=approved, reviewer=staff)
    rejected = flag(submitted("a rejected one"), user=member)
    feedback_reject(feedback=rejected, reviewer=staff)
    p1 = submitted(TRICKY)
    f1 = flag(p1, user=member)
    f2 = flag(submitted(TRICKY), session="someone", ip="203.0.113.9")
    f3 = flag(submitted(TRICKY, label=other(p1.label)), session="another", ip="198.51.100.4")
    plain = flag(submitted("an ordinary review of a film"), session="plain", ip="192.0.2.1")
    assert f3.corrected_label != f1.corrected_label and f1.text_hash == f2.text_hash == f3.text_hash
    return {"f1": f1, "f2": f2, "f3": f3, "plain": plain, "approved": approved, "rejected": rejected}


def test_the_facts_agree_with_the_selectors(world):
    """The page-at-once facts use the rule of conflicting_text_hashes and count the other flags."""
    facts = moderation_facts(Feedback.objects.all(), duplicate_rows=True)
    conflicts = conflicting_text_hashes()
    for f in Feedback.objects.all():
        assert facts[f.pk].conflict == (f.text_hash in conflicts)
    f1, f2, f3 = world["f1"], world["f2"], world["f3"]
    assert facts[f1.pk].duplicate_count == 2 and [d["id"] for d in facts[f1.pk].duplicates] == [f2.pk, f3.pk]
    assert facts[f1.pk].conflict and not facts[world["plain"].pk].conflict
    assert facts[f1.pk].history == {"flags": 3, "approved": 1, "rejected": 1, "pending": 1}


# --- The admin -----------------------------------------------------------------------------------

CHANGELIST = "/admin/reviews/feedback/"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def row_of(page: str, pk: int) -> str:
    """The changelist's table row of flag `pk`."""
    for row in re.findall(r"<tr>.*?</tr>", page, flags=re.S):
        if f'name="_selected_action" value="{pk}"' in row:
            return row
    raise AssertionError(f"no row for flag {pk}")


def test_the_list_shows_the_revealed_model_text_history_duplicates_and_conflict(admin_client, world, member):
    """Each row: what the model reads (escaped, hidden characters written out, a warning badge),
    the source's record, how many other flags share the text and whether they conflict."""
    page = admin_client.get(CHANGELIST).content.decode()
    assert RLO not in page
    first = row_of(page, world["f1"].pk)
    assert f"Great film{RLO_MARK}!" in first
    assert "&lt;i&gt;" not in first and "<i>" not in first  # the model's text: the tags are gone
    assert "⚠ 1 invisible character" in first
    assert f"user:{member.pk}: 3 flags, 1 approved, 1 rejected, 1 pending" in first
    assert re.search(r'title="other flags on the same text">2</span>', first) and ">conflict</span>" in first
    second = row_of(page, world["f2"].pk)
    assert "client:" in second and "1 flag, 0 approved, 0 rejected, 1 pending" in second
    plain = row_of(page, world["plain"].pk)
    assert "an ordinary review of a film" in plain and "⚠" not in plain and "conflict" not in plain
    assert 'title="other flags on the same text">—</span>' in plain


def test_the_list_shows_at_most_300_characters_still_escaped(admin_client, active_model):
    """A long text is cut at 300 characters of what the model reads, markup still escaped."""
    f = flag(submitted("<" + "x" * 400), session="long")
    row = row_of(admin_client.get(CHANGELIST).content.decode(), f.pk)
    assert "&lt;" + "x" * 299 + "…" in row and "x" * 300 not in row


def test_the_list_makes_a_fixed_number_of_queries(admin_client, world, active_model, django_assert_max_num_queries):
    """The histories, duplicates and conflicts of a page come in a fixed number of queries,
    however many rows and sources it has."""
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(CHANGELIST).status_code == 200
    for i in range(8):
        text = TRICKY if i % 2 else f"another review number {i}"
        flag(submitted(text), session=f"crowd{i}", ip=f"203.0.{i}.7")
    with django_assert_max_num_queries(len(few)) as many:
        page = admin_client.get(CHANGELIST).content.decode()
    assert page.count('name="_selected_action"') == Feedback.objects.count() == 14
    assert len(many) == len(few)


def test_the_detail_page_shows_both_texts_the_history_and_the_other_flags(admin_client, world, member):
    """The model's text and the stored one side by side, both revealed and escaped, a summary of
    their hidden characters, the source's history, the other flags with links, the conflict,
    the network and whether the flag is trusted."""
    f1 = world["f1"]
    page = admin_client.get(reverse("admin:reviews_feedback_change", args=[f1.pk])).content.decode()
    assert RLO not in page and "<i>Great</i>" not in page
    model = re.search(r'<bdi class="revealed full model-text">(.*?)</bdi>', page, flags=re.S).group(1)
    raw = re.search(r'<bdi class="revealed full raw-text">(.*?)</bdi>', page, flags=re.S).group(1)
    assert model == f"Great film{RLO_MARK}!"
    assert raw == "&lt;i&gt;Great&lt;/i&gt; film&amp;#8238;!"
    assert "1 invisible character: U+202E" in page
    assert f"user:{member.pk}" in page and "3 flags, 1 approved, 1 rejected, 1 pending" in page
    for dup in (world["f2"], world["f3"]):
        assert f'href="{reverse("admin:reviews_feedback_change", args=[dup.pk])}">#{dup.pk}</a>' in page
    assert ">conflict</span>" in page and "corrected to both labels" in page
    assert re.search(r"Trusted:</label>\s*<div class=\"readonly\"><img[^>]*alt=\"False\"", page)

    f2 = world["f2"]
    page = admin_client.get(reverse("admin:reviews_feedback_change", args=[f2.pk])).content.decode()
    assert f2.network.startswith("net:") and f2.network in page and f2.source in page


def test_the_detail_page_of_a_plain_flag_has_nothing_to_warn_about(admin_client, world):
    page = admin_client.get(reverse("admin:reviews_feedback_change", args=[world["plain"].pk])).content.decode()
    assert "None: no other flag on this text." in page and "⚠" not in page and ">conflict</span>" not in page


def pending(n: int, *, start: int = 0) -> list[Feedback]:
    """n pending flags from n anonymous clients, on n texts (one with a zero-width space)."""
    texts = [f"a great film number {i}" + (ZWSP if i == start else "") for i in range(start, start + n)]
    predictions = review_submit_many(texts=texts, session_key="writer")
    return [flag(p, session=f"visitor{i}", ip=f"198.51.100.{i % 250 + 1}") for i, p in enumerate(predictions, start)]


def post_action(client, name: str, flags, *, follow: bool = False, **extra):
    return client.post(CHANGELIST, {"action": name, "_selected_action": [str(f.pk) for f in flags], **extra},
                       follow=follow)


def confirmation_form(page: str) -> dict:
    """The hidden fields of the confirmation page's form, as the browser would post them."""
    [form] = [f for f in re.findall(r'<form method="post">(.*?)</form>', page, flags=re.S) if 'name="confirm"' in f]
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form):
        fields.setdefault(name, []).append(value)
    return fields


def statuses() -> set[str]:
    return set(Feedback.objects.values_list("status", flat=True))


def test_approving_more_than_the_threshold_asks_first_then_approves_them_all(admin_client, active_model, settings):
    """One over SENTIMENT_MODERATION_CONFIRM_OVER: a page that says what they are and approves
    nothing; its button posts the action again, and then every flag is approved."""
    settings.SENTIMENT_MODERATION_CONFIRM_OVER = 3
    flags = pending(4)
    response = post_action(admin_client, "approve", flags)
    page = response.content.decode()
    assert response.status_code == 200 and "Yes, approve 4 flags" in page
    assert statuses() == {Feedback.Status.PENDING}
    assert "By source (4)" in page and page.count("1 flag, 0 approved, 0 rejected, 1 pending") == 4
    labels = {label: sum(1 for f in flags if f.corrected_label == label) for label in ("negative", "positive")}
    for label, n in labels.items():
        if n:
            assert f"<li>{label.capitalize()}: {n}</li>" in page
    assert "<strong>1</strong> of them has invisible" in page and "<strong>0</strong> of them are on a text in conflict" in page
    assert ZWSP not in page and ZWSP_MARK in page

    fields = confirmation_form(page)
    assert sorted(fields["_selected_action"]) == sorted(str(f.pk) for f in flags)
    assert (fields["action"], fields["post"], fields["confirm"]) == (["approve"], ["yes"], ["yes"])
    done = admin_client.post(CHANGELIST, fields, follow=True).content.decode()
    assert "Approved 4 flag(s)." in done
    assert statuses() == {Feedback.Status.APPROVED}


def test_the_confirmation_counts_conflicts(admin_client, world, settings):
    """Flags on a text in conflict are counted on the confirmation page."""
    settings.SENTIMENT_MODERATION_CONFIRM_OVER = 2
    page = post_action(admin_client, "approve", [world["f1"], world["f2"], world["f3"]]).content.decode()
    assert "Yes, approve 3 flags" in page and "<strong>3</strong> of them are on a text in conflict" in page
    assert "<strong>3</strong> of them have invisible" in page
    assert not Feedback.objects.filter(pk__in=[world["f1"].pk, world["f2"].pk, world["f3"].pk],
                                       status=Feedback.Status.APPROVED).exists()


def test_the_default_threshold_is_20(admin_client, active_model):
    """21 flags ask first; without the setting changed, the threshold is 20."""
    assert conf.moderation.confirm_over == 20
    flags = pending(21)
    page = post_action(admin_client, "approve", flags).content.decode()
    assert "Yes, approve 21 flags" in page and statuses() == {Feedback.Status.PENDING}
    admin_client.post(CHANGELIST, confirmation_form(page))
    assert statuses() == {Feedback.Status.APPROVED}


@pytest.mark.parametrize("threshold", [3, None])
def test_approving_as_many_as_the_threshold_approves_at_once(admin_client, active_model, settings, threshold):
    """At the threshold (3, or the default 20) there is no confirmation page."""
    if threshold is not None:
        settings.SENTIMENT_MODERATION_CONFIRM_OVER = threshold
    flags = pending(conf.moderation.confirm_over)
    page = post_action(admin_client, "approve", flags, follow=True).content.decode()
    assert "Yes, approve" not in page and f"Approved {len(flags)} flag(s)." in page
    assert statuses() == {Feedback.Status.APPROVED}


def test_rejecting_many_needs_no_confirmation(admin_client, active_model, settings):
    settings.SENTIMENT_MODERATION_CONFIRM_OVER = 2
    page = post_action(admin_client, "reject", pending(3), follow=True).content.decode()
    assert "Rejected 3 flag(s)." in page and statuses() == {Feedback.Status.REJECTED}


def test_select_all_across_pages_confirms_the_whole_selection(admin_client, active_model, settings):
    """"Select all" over the threshold: the confirmation lists every flag and approves them all."""
    settings.SENTIMENT_MODERATION_CONFIRM_OVER = 2
    flags = pending(4)
    page = post_action(admin_client, "approve", flags[:1], select_across="1").content.decode()
    assert "Yes, approve 4 flags" in page and statuses() == {Feedback.Status.PENDING}
    admin_client.post(CHANGELIST, confirmation_form(page))
    assert statuses() == {Feedback.Status.APPROVED}


@pytest.fixture
def viewer(django_user_model):
    """Staff who may look at flags but not decide them."""
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="reviews", codename="view_feedback"))
    return user


def test_without_the_moderate_permission_the_confirmation_approves_nothing(client, viewer, active_model, settings,
                                                                          django_user_model):
    """A confirmed post from staff without moderate_feedback approves nothing (nor does asking
    for the confirmation page); a moderator's same post approves."""
    settings.SENTIMENT_MODERATION_CONFIRM_OVER = 2
    flags = pending(3)
    confirmed = {"action": "approve", "_selected_action": [str(f.pk) for f in flags], "post": "yes", "confirm": "yes"}
    client.force_login(viewer)
    assert client.get(CHANGELIST).status_code == 200
    assert "Yes, approve" not in post_action(client, "approve", flags, follow=True).content.decode()
    client.post(CHANGELIST, confirmed)
    assert statuses() == {Feedback.Status.PENDING}

    moderator = django_user_model.objects.create_user("moderator", password="pw-moderator-123", is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    client.force_login(moderator)
    client.post(CHANGELIST, confirmed)
    assert statuses() == {Feedback.Status.APPROVED}


# --- The API -----------------------------------------------------------------------------------


def test_the_api_lists_flags_with_what_the_model_reads_and_the_moderation_facts(staff_api, world, member, staff):
    """GET /feedback: model_text with its hidden characters written out, the list of them, the
    source, trust, the source's history, the other flags on the text and the conflict."""
    trusted = flag(submitted("flagged by a moderator"), user=staff)
    items = {item["id"]: item for item in staff_api.get("/api/v1/feedback", {"page_size": 100}).json()["results"]}
    f1, f2, f3 = world["f1"], world["f2"], world["f3"]
    first = items[f1.pk]
    assert first["review_text"] == TRICKY
    assert first["model_text"] == "Great film⟦U+202E RIGHT-TO-LEFT OVERRIDE⟧!"
    assert first["invisible_characters"] == [{"code_point": "U+202E", "name": "RIGHT-TO-LEFT OVERRIDE", "count": 1}]
    assert (first["source"], first["trusted"], first["conflict"]) == (f"user:{member.pk}", False, True)
    assert first["source_history"] == {"flags": 3, "approved": 1, "rejected": 1, "pending": 1}
    assert first["duplicates"] == [{"id": f2.pk, "corrected_label": f2.corrected_label, "status": "pending"},
                                   {"id": f3.pk, "corrected_label": f3.corrected_label, "status": "pending"}]
    assert items[f2.pk]["source"] == f2.source and items[f2.pk]["source"].startswith("client:")
    plain = items[world["plain"].pk]
    assert (plain["invisible_characters"], plain["duplicates"], plain["conflict"]) == ([], [], False)
    assert plain["model_text"] == "an ordinary review of a film"
    assert items[trusted.pk]["trusted"] is True


def test_a_decision_answers_with_the_same_fields(staff_api, world):
    """POST /feedback/{id}/reject answers the flag with its facts (the history now counts it)."""
    f3 = world["f3"]
    body = staff_api.post(f"/api/v1/feedback/{f3.pk}/reject", {}, format="json").json()
    assert body["status"] == "rejected" and body["source_history"] == {"flags": 1, "approved": 0, "rejected": 1,
                                                                       "pending": 0}
    assert body["conflict"] is False  # the only flag for the other label is rejected now
    assert [d["id"] for d in body["duplicates"]] == [world["f1"].pk, world["f2"].pk]
    assert body["model_text"] == "Great film⟦U+202E RIGHT-TO-LEFT OVERRIDE⟧!"


def test_the_api_list_makes_a_fixed_number_of_queries(staff, world, active_model, django_assert_max_num_queries):
    """No query per flag: a page of 14 flags costs what a page of 6 does."""
    api = token_client(staff)
    with CaptureQueriesContext(connection) as few:
        assert api.get("/api/v1/feedback").json()["count"] == 6
    for i in range(8):
        flag(submitted(TRICKY if i % 2 else f"another review number {i}"), session=f"crowd{i}", ip=f"203.0.{i}.7")
    with django_assert_max_num_queries(len(few)) as many:
        assert len(api.get("/api/v1/feedback").json()["results"]) == 14
    assert len(many) == len(few)
