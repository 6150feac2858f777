"""Issue 18's smaller reproductions: stored session keys, what anonymous health shows, a batch
over the caller's whole budget, and ensure_superuser's checks."""

import importlib

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from reviews import selectors
from reviews.identity import Visitor, session_hash
from reviews.models import Explanation, Feedback, Review
from reviews.services.feedback import feedback_flag
from reviews.services.reviews import review_submit
from tests.reviews.conftest import token_client

pytestmark = pytest.mark.django_db


def api_url(name, *args):
    return reverse(f"api:{name}", args=args)


def other(label: str) -> str:
    return "negative" if label == "positive" else "positive"


# --- Reporter identity: an HMAC of the session key, never the key -----------------------------


def stored_identities() -> list[str]:
    rows = list(Review.objects.values_list("session_key", flat=True))
    for session_key, reporter in Feedback.objects.values_list("session_key", "reporter"):
        rows += [session_key, reporter]
    return rows


def test_pages_store_no_session_key_and_the_visitor_still_sees_their_flag(client, active_model):
    """A review and flag from the site keep only the key's HMAC; the visitor still sees both."""
    location = client.post(reverse("home"), {"text": "wonderful superb film"})["Location"]
    review = Review.objects.get()
    client.post(reverse("review-flag", args=[review.pk]), {"label": other(review.latest_prediction.label)})
    key = client.session.session_key
    assert key and not any(key in value for value in stored_identities())
    assert review.session_key == session_hash(key) and Feedback.objects.get().reporter == f"session:{session_hash(key)}"
    page = client.get(location)
    assert page.status_code == 200 and b"Pending" in page.content
    assert b"wonderful superb film" in client.get(reverse("history")).content


def test_the_api_stores_no_session_key_and_the_caller_still_sees_its_reviews(active_model):
    """An anonymous API caller's review and flag keep no session key; it still lists and flags them."""
    anonymous = APIClient()
    body = anonymous.post(api_url("reviews"), {"text": "a superb film"}, format="json").json()
    flag = anonymous.post(api_url("prediction-flag", body["prediction"]["id"]),
                          {"label": other(body["prediction"]["label"])}, format="json")
    assert flag.status_code == 201, flag.content
    key = anonymous.session.session_key
    assert key and not any(key in value for value in stored_identities())
    assert [r["id"] for r in anonymous.get(api_url("reviews")).json()["results"]] == [body["id"]]
    assert APIClient().get(api_url("reviews")).json()["count"] == 0


def test_one_flag_per_session_still_holds(active_model):
    """The one-flag-per-person rule compares hashes: the same session's second flag is the first."""
    prediction = review_submit(text="loved it", session_key="key-one")
    first, _ = feedback_flag(prediction=prediction, label=other(prediction.label), session_key="key-one")
    again, created = feedback_flag(prediction=prediction, label=other(prediction.label), session_key="key-one")
    assert not created and again.pk == first.pk
    assert selectors.feedback_for(prediction=prediction, session_key="key-one") == first
    assert selectors.feedback_for(prediction=prediction, session_key="key-two") is None


def test_the_admin_shows_no_usable_session_key(client, active_model, staff):
    """The admin's review and flag pages show no visitor's session key."""
    visitor_client = client.__class__()
    visitor_client.post(reverse("home"), {"text": "wonderful superb film"})
    review = Review.objects.get()
    visitor_client.post(reverse("review-flag", args=[review.pk]), {"label": other(review.latest_prediction.label)})
    key = visitor_client.session.session_key
    client.force_login(staff)
    pages = [reverse("admin:reviews_review_change", args=[review.pk]),
             reverse("admin:reviews_feedback_change", args=[Feedback.objects.get().pk]),
             reverse("admin:reviews_feedback_changelist")]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200 and key.encode() not in response.content


def test_the_rate_key_of_an_anonymous_session_is_not_its_key():
    """Without a client address the rate-limit key (stored in a table) uses the key's HMAC."""
    assert "the-key" not in Visitor(user=None, session_key="the-key", client_ip=None).rate_key


def test_the_data_migration_replaces_stored_keys_by_their_hash(active_model, member):
    """Rows written before keep working: the migration rewrites their keys to the HMAC."""
    from django.apps import apps

    prediction = review_submit(text="loved it")
    Review.objects.filter(pk=prediction.review_id).update(session_key="old-key")
    label = other(prediction.label)
    Feedback.objects.create(prediction=prediction, predicted_label=prediction.label, corrected_label=label,
                            session_key="old-key", reporter="session:old-key")
    Feedback.objects.create(prediction=prediction, predicted_label=prediction.label, corrected_label=label,
                            user=member, reporter=f"user:{member.pk}")
    explanation = Explanation.objects.create(prediction=prediction, model_version_id=prediction.model_version_id,
                                             requester="anon:old-key")
    migration = importlib.import_module("reviews.migrations.0008_hash_session_keys")
    migration.hash_session_keys(apps, None)
    assert "old-key" not in " ".join(stored_identities())
    assert selectors.review_get(pk=prediction.review_id, session_key="old-key") is not None
    assert selectors.feedback_for(prediction=prediction, session_key="old-key").session_key == session_hash("old-key")
    assert Feedback.objects.filter(reporter=f"user:{member.pk}").exists()
    explanation.refresh_from_db()
    assert explanation.requester == Visitor(user=None, session_key="old-key", client_ip=None).rate_key


# --- Health: anonymous callers get the status only --------------------------------------------


def test_anonymous_health_shows_only_the_status(api, active_model):
    """Anonymous GET /health answers status and database, no pid, worker or version detail."""
    from django.utils import timezone

    from reviews.worker import queue

    queue.heartbeat(worker_id="host-name:4242:abc", started_at=timezone.now())
    response = api.get(api_url("health"))
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": True}
    assert b"host-name" not in response.content


def test_staff_health_shows_every_detail(staff, active_model):
    """Staff (token or session) see the versions, the pid and the workers."""
    from django.utils import timezone

    from reviews.worker import queue

    queue.heartbeat(worker_id="host-name:4242:abc", started_at=timezone.now())
    body = token_client(staff).get(api_url("health")).json()
    assert body["active_version"] == active_model.id and "pid" in body
    assert body["worker"]["workers"][0]["id"] == "host-name:4242:abc"
    session = APIClient()
    session.force_login(staff)
    assert "pid" in session.get(api_url("health")).json()


def test_members_and_bad_tokens_get_the_anonymous_health(member, db):
    """A signed-in non-staff user, or a wrong token, sees the status only (never a 401)."""
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    for client in (token_client(member), bad):
        response = client.get(api_url("health"))
        assert response.status_code == 200 and set(response.json()) == {"status", "database"}


def test_anonymous_health_is_503_when_the_database_is_down(api, monkeypatch):
    """With the database down anonymous callers get a 503 with the status only."""
    from django.db import OperationalError

    def down():
        raise OperationalError("connection refused")

    monkeypatch.setattr("reviews.selectors.model_version_active", down)
    response = api.get(api_url("health"))
    assert response.status_code == 503 and response.json() == {"status": "error", "database": False}


# --- A batch larger than the caller's whole budget -------------------------------------------


def test_a_batch_over_the_whole_budget_is_a_400_that_says_so(api, active_model, settings):
    """61 texts against an anonymous 60/min budget can never pass: 400 batch_over_budget, no Retry-After."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "predict": {"anon": "60/min", "user": "600/min"}}
    response = api.post(api_url("predict"), {"texts": [f"film {i}" for i in range(61)]}, format="json")
    assert response.status_code == 400 and "Retry-After" not in response
    assert response.json()["error"]["code"] == "batch_over_budget"
    assert "60/min" in response.json()["error"]["message"]
    assert api.post(api_url("predict"), {"texts": [f"film {i}" for i in range(60)]}, format="json").status_code == 200
    assert api.post(api_url("predict"), {"texts": ["one more"]}, format="json").status_code == 429


def test_a_batch_over_a_tier_is_a_400_too(api, active_model, settings):
    """With tiers, a batch larger than the smallest one can never pass either."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "predict": {"anon": "100/min,10/s", "user": "600/min"}}
    response = api.post(api_url("predict"), {"texts": [f"film {i}" for i in range(11)]}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "batch_over_budget"


# --- ensure_superuser -----------------------------------------------------------------------


def test_ensure_superuser_refuses_a_weak_password(monkeypatch, django_user_model):
    """A password the validators refuse is a CommandError naming the problems; nothing is created."""
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "1234")
    with pytest.raises(CommandError, match="too short") as refused:
        call_command("ensure_superuser")
    assert "entirely numeric" in str(refused.value)
    assert not django_user_model.objects.filter(username="boss").exists()


def test_ensure_superuser_does_not_promote_an_existing_account_without_force(monkeypatch, django_user_model):
    """An existing non-staff account is refused unless --force; with it, it is promoted."""
    django_user_model.objects.create_user("someone", password="their-own-pw-1")
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "someone")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-new-long-pw-9")
    with pytest.raises(CommandError, match="--force"):
        call_command("ensure_superuser")
    user = django_user_model.objects.get(username="someone")
    assert not user.is_staff and not user.is_superuser and user.check_password("their-own-pw-1")
    call_command("ensure_superuser", force=True)
    user.refresh_from_db()
    assert user.is_staff and user.is_superuser and user.check_password("a-new-long-pw-9")


def test_ensure_superuser_does_not_promote_a_staff_account_without_force(monkeypatch, django_user_model):
    """A staff account with limited permissions is not silently made a superuser either."""
    django_user_model.objects.create_user("moderator", password="their-own-pw-1", is_staff=True)
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "moderator")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-new-long-pw-9")
    with pytest.raises(CommandError, match="--force"):
        call_command("ensure_superuser")
    assert not django_user_model.objects.get(username="moderator").is_superuser
