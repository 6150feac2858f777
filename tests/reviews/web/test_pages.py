import pytest
from django.urls import reverse

from reviews.models import Feedback, Review

pytestmark = pytest.mark.django_db


def submit(client, text="wonderful superb film"):
    return client.post(reverse("home"), {"text": text})


def test_home_before_any_model_says_the_first_one_is_being_prepared(client):
    """With no model the home page explains that the first model is being prepared."""
    from reviews import predictor

    predictor.reset()
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"first model is being prepared" in response.content
    assert submit(client).status_code == 503 and Review.objects.count() == 0


def test_anonymous_visitor_classifies_and_sees_the_result(client, active_model):
    """Posting a review redirects to its page showing label, confidence and model version."""
    response = submit(client)
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert active_model.id.encode() in page.content and b"Confidence" in page.content
    assert b"The model got this wrong?" in page.content


@pytest.mark.parametrize("text,message", [("", b"the text is empty"), ("  ", b"the text is empty"),
                                          ("x" * 20_001, b"the limit is 20,000")])
def test_bad_text_gets_a_form_error(client, active_model, text, message):
    """Empty and too-long texts give a form error and store nothing."""
    response = submit(client, text)
    assert response.status_code == 400 and message in response.content
    assert Review.objects.count() == 0


def test_markup_in_a_review_is_shown_as_text(client, active_model):
    """A script in a review is escaped on the review page and in the history."""
    response = submit(client, '<script>alert("x")</script> great film')
    page = client.get(response["Location"]).content
    assert b'<script>alert("x")</script>' not in page and b"&lt;script&gt;" in page
    assert b"<script>alert" not in client.get(reverse("history")).content


def test_flag_then_repeat_shows_the_first_flag(client, active_model):
    """Flagging stores one pending flag; a second post shows it and stores nothing new."""
    location = submit(client)["Location"]
    review = Review.objects.get()
    other = "negative" if review.latest_prediction.label == "positive" else "positive"
    url = reverse("review-flag", args=[review.pk])
    client.post(url, {"label": other, "comment": "sarcasm"})
    response = client.post(url, {"label": other}, follow=True)
    assert Feedback.objects.count() == 1
    assert b"You already flagged this prediction" in response.content
    assert b"Pending" in client.get(location).content


def test_flag_with_the_predicted_label_is_refused_with_a_message(client, active_model):
    """A flag naming the predicted label is refused with a message."""
    submit(client)
    review = Review.objects.get()
    response = client.post(reverse("review-flag", args=[review.pk]), {"label": review.latest_prediction.label}, follow=True)
    assert b"must name the other label" in response.content and Feedback.objects.count() == 0


def test_visitors_see_only_their_own_reviews(client, active_model, member, staff):
    """History and review pages show a visitor's own reviews; staff see everyone's."""
    submit(client, "anonymous review text")
    review = Review.objects.get()
    other = client.__class__()
    assert other.get(reverse("review-detail", args=[review.pk])).status_code == 404
    other.force_login(member)
    assert b"anonymous review text" not in other.get(reverse("history")).content
    other.force_login(staff)
    assert b"anonymous review text" in other.get(reverse("history")).content


def test_history_filters_by_label_flag_and_search(client, active_model):
    """History filters by label, flagged state and text search."""
    for text in ("alpha great", "beta awful", "gamma superb"):
        submit(client, text)
    labels = {r.text: r.latest_prediction.label for r in Review.objects.all()}
    content = client.get(reverse("history"), {"q": "beta"}).content
    assert b"beta awful" in content and b"alpha great" not in content
    content = client.get(reverse("history"), {"label": labels["alpha great"]}).content
    assert b"alpha great" in content
    assert b"No reviews match" in client.get(reverse("history"), {"flagged": "yes"}).content


def test_dashboard_is_staff_only_and_counts_pending_flags(client, active_model, staff, member):
    """The dashboard needs staff and shows pending flags and the active model."""
    assert client.get(reverse("dashboard")).status_code == 302
    client.force_login(member)
    assert client.get(reverse("dashboard")).status_code == 302
    client.force_login(staff)
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200 and active_model.id.encode() in page.content
    assert b'id="pending-count">0<' in page.content and b"<svg" in page.content


def test_pages_for_each_kind_of_visitor(client, active_model, member, staff):
    """Home, history and sign-in pages answer 200 for anonymous, member and staff visitors."""
    for user in (None, member, staff):
        if user:
            client.force_login(user)
        for name in ("home", "history", "login"):
            assert client.get(reverse(name)).status_code == 200


def test_admin_lists_feedback_and_approves_in_bulk(client, active_model, staff):
    """Staff approve flags with the admin's bulk action, which records the reviewer."""
    submit(client)
    review = Review.objects.get()
    other = "negative" if review.latest_prediction.label == "positive" else "positive"
    client.post(reverse("review-flag", args=[review.pk]), {"label": other})
    client.force_login(staff)
    changelist = reverse("admin:reviews_feedback_changelist")
    assert client.get(changelist).status_code == 200
    flag = Feedback.objects.get()
    assert client.get(reverse("admin:reviews_feedback_change", args=[flag.pk])).status_code == 200
    client.post(changelist, {"action": "approve", "_selected_action": [flag.pk]})
    flag.refresh_from_db()
    assert flag.status == "approved" and flag.reviewed_by == staff


def test_rate_limit_refuses_with_a_message(client, active_model, settings):
    """Past the configured rate an anonymous visitor gets a 429 page with a message."""
    settings.SENTIMENT_RATES = {"predict": {"anon": "2/min", "user": "2/min"}, "flag": {"anon": "2/min", "user": "2/min"}}
    assert submit(client).status_code == 302 and submit(client).status_code == 302
    response = submit(client)
    assert response.status_code == 429 and b"Too many requests" in response.content


def test_why_past_the_explain_rate_shows_a_message_and_queues_nothing(client, active_model, settings):
    """With an explain rate of 2/min the third "Why?" says to wait and queues no explanation."""
    from reviews.models import Explanation

    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "explain": {"anon": "2/min", "user": "100/min"}}
    reviews = []
    for i in range(3):
        submit(client, f"wonderful superb film number {i}")
        reviews.append(Review.objects.latest("id"))
    for review in reviews[:2]:
        page = client.post(reverse("review-explain", args=[review.pk]), follow=True)
        assert b"Too many requests" not in page.content
    page = client.post(reverse("review-explain", args=[reviews[2].pk]), follow=True)
    assert page.status_code == 200 and b"Too many requests; please try again in" in page.content
    assert sorted(Explanation.objects.values_list("prediction__review_id", flat=True)) == [r.pk for r in reviews[:2]]


def test_polling_an_explanation_does_not_use_the_explain_rate(client, active_model, settings):
    """The review page's status polling is free: after many polls "Why?" still works."""
    from reviews.models import Explanation

    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "explain": {"anon": "2/min", "user": "100/min"}}
    submit(client, "wonderful superb film")
    first = Review.objects.latest("id")
    submit(client, "dull boring film")
    second = Review.objects.latest("id")
    client.post(reverse("review-explain", args=[first.pk]))
    polls = [client.get(reverse("review-explanation-status", args=[first.pk])) for _ in range(5)]
    assert [(p.status_code, p.json()) for p in polls] == [(200, {"status": "pending"})] * 5
    page = client.post(reverse("review-explain", args=[second.pk]), follow=True)
    assert b"Too many requests" not in page.content
    assert Explanation.objects.filter(prediction__review=second).exists()
