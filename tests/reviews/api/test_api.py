import json
import os

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from reviews.services.explanations import explanation_request
from reviews.services.feedback import feedback_flag
from reviews.services.model_versions import model_version_register
from reviews.services.reviews import review_submit
from reviews.models import Feedback, ModelVersion, Prediction, Review, Source
from tests.reviews.conftest import token_client

pytestmark = pytest.mark.django_db

POSITIVE = "A wonderful, moving film with a superb cast."


def url(name, *args):
    return reverse(f"api:{name}", args=args)


def error(response) -> dict:
    """The body of an error response, checked to have the one error shape."""
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["fields"], dict)
    return body["error"]


def other(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def create(client, text=POSITIVE) -> dict:
    response = client.post(url("reviews"), {"text": text}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- Happy paths ---------------------------------------------------------------------------


def test_predict_one_text_answers_label_confidence_probabilities_and_version(api, active_model):
    """POST /predict with one text answers its label, confidence, probabilities and version."""
    response = api.post(url("predict"), {"text": POSITIVE}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == active_model.id and body["stored"] is False
    [result] = body["results"]
    assert result["label"] in ("negative", "positive") and result["model_version"] == active_model.id
    assert result["confidence"] == max(result["probabilities"].values()) >= 0.5
    assert set(result["probabilities"]) == {"negative", "positive"}
    assert abs(sum(result["probabilities"].values()) - 1) < 1e-6
    assert result["review_id"] is None and result["prediction_id"] is None
    assert Review.objects.count() == 0


def test_predict_batch_answers_each_text_in_order_and_stores_nothing(api, active_model):
    """A batch gets one result per text, in order, the same as asking one at a time."""
    texts = [POSITIVE, "Awful, boring, a waste of two hours.", POSITIVE]
    results = api.post(url("predict"), {"texts": texts}, format="json").json()["results"]
    single = api.post(url("predict"), {"text": texts[1]}, format="json").json()["results"][0]
    assert len(results) == 3 and results[0] == results[2]
    assert results[1]["label"] == single["label"] and abs(results[1]["confidence"] - single["confidence"]) < 1e-5
    assert Review.objects.count() == 0


def test_predict_with_store_keeps_reviews_from_the_api_and_returns_their_ids(api, active_model):
    """With store=true each text becomes a review (source api) whose ids come back."""
    body = api.post(url("predict"), {"texts": ["great", "dreadful"], "store": True}, format="json").json()
    assert body["stored"] is True
    reviews = Review.objects.order_by("pk")
    assert [r["review_id"] for r in body["results"]] == [r.pk for r in reviews]
    assert [r.text for r in reviews] == ["great", "dreadful"] and {r.source for r in reviews} == {Source.API}
    assert body["results"][0]["prediction_id"] == reviews[0].latest_prediction.pk
    listed = api.get(url("reviews")).json()
    assert listed["count"] == 2  # the caller's session sees them


def test_create_review_stores_it_and_answers_201_with_its_prediction(api, active_model):
    """POST /reviews stores the review and answers it with its prediction and a Location."""
    response = api.post(url("reviews"), {"text": POSITIVE}, format="json")
    assert response.status_code == 201
    body = response.json()
    review = Review.objects.get()
    assert response["Location"] == url("review", review.pk)
    assert (body["id"], body["text"], body["source"], body["flagged"]) == (review.pk, POSITIVE, "api", False)
    assert body["prediction"]["model_version"] == active_model.id and body["prediction"]["flags"] == []
    assert [p["id"] for p in body["predictions"]] == [body["prediction"]["id"]]
    assert body["prediction"]["latency_ms"] >= 0 and body["created_at"]


def test_review_detail_shows_predictions_and_flags(api, active_model):
    """GET /reviews/{id} shows the review with its predictions and the flags on them."""
    created = create(api)
    prediction = created["prediction"]
    api.post(url("prediction-flag", prediction["id"]), {"label": other(prediction["label"]), "comment": "sarcasm"},
             format="json")
    body = api.get(url("review", created["id"])).json()
    assert body["flagged"] is True
    [flag] = body["predictions"][0]["flags"]
    assert flag["corrected_label"] == other(prediction["label"]) and flag["predicted_label"] == prediction["label"]
    assert (flag["comment"], flag["status"], flag["prediction_id"]) == ("sarcasm", "pending", prediction["id"])


def test_review_list_is_paginated_newest_first(api, active_model, settings):
    """GET /reviews pages through the caller's reviews, newest first."""
    for n in range(3):
        create(api, f"review number {n}")
    page = api.get(url("reviews"), {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["previous"] is None
    assert [r["text"] for r in page["results"]] == ["review number 2", "review number 1"]
    second = api.get(page["next"]).json()
    assert [r["text"] for r in second["results"]] == ["review number 0"] and second["next"] is None


def test_review_list_filters_by_label_flag_version_search_and_dates(api, active_model):
    """The list filters by latest label, flagged, model version, text search and creation dates."""
    first, second = create(api, "first wonderful review"), create(api, "second dull review")
    label = first["prediction"]["label"]
    api.post(url("prediction-flag", first["prediction"]["id"]), {"label": other(label)}, format="json")

    def ids(**params):
        return [r["id"] for r in api.get(url("reviews"), params).json()["results"]]

    assert ids(flagged="true") == [first["id"]] and ids(flagged="false") == [second["id"]]
    assert first["id"] in ids(label=label) and first["id"] not in ids(label=other(label))
    assert ids(search="DULL") == [second["id"]]
    assert len(ids(model_version=active_model.id)) == 2 and ids(model_version="nope") == []
    today = Review.objects.get(pk=first["id"]).created_at.date().isoformat()
    assert len(ids(created_from=today, created_to=today)) == 2 and ids(created_from="2999-01-01") == []


def test_flag_is_idempotent_per_caller(api, active_model):
    """The first flag answers 201; repeating it answers 200 with the same flag and stores nothing."""
    prediction = create(api)["prediction"]
    flag_url = url("prediction-flag", prediction["id"])
    first = api.post(flag_url, {"label": other(prediction["label"]), "comment": "sarcasm"}, format="json")
    again = api.post(flag_url, {"label": other(prediction["label"])}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json() and Feedback.objects.count() == 1
    assert first.json()["status"] == "pending" and first.json()["comment"] == "sarcasm"


@pytest.fixture
def flagged(api, active_model):
    """A pending flag on an anonymous caller's review."""
    prediction = create(api)["prediction"]
    api.post(url("prediction-flag", prediction["id"]), {"label": other(prediction["label"])}, format="json")
    return Feedback.objects.get()


def test_staff_lists_feedback_filtered_by_status(staff_api, flagged):
    """GET /feedback lists flags with their review and version; status filters them."""
    page = staff_api.get(url("feedback"), {"status": "pending"}).json()
    [item] = page["results"]
    assert (item["id"], item["status"], item["review_id"]) == (flagged.pk, "pending", flagged.prediction.review_id)
    assert item["review_text"] == POSITIVE and item["model_version"] == flagged.prediction.model_version_id
    assert item["reviewed_by"] is None and item["reviewed_at"] is None
    assert staff_api.get(url("feedback"), {"status": "approved"}).json()["count"] == 0


def test_staff_approves_a_flag_with_a_note(staff_api, flagged, staff):
    """POST /feedback/{id}/approve records the decision, the reviewer and the note."""
    body = staff_api.post(url("feedback-approve", flagged.pk), {"note": "clear sarcasm"}, format="json").json()
    assert (body["status"], body["reviewed_by"], body["review_note"]) == ("approved", "staff", "clear sarcasm")
    assert body["reviewed_at"] and Feedback.objects.get().status == Feedback.Status.APPROVED


def test_staff_rejects_a_flag_without_a_body(staff_api, flagged):
    """POST /feedback/{id}/reject works with no body at all; the note is optional."""
    response = staff_api.post(url("feedback-reject", flagged.pk))
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert Feedback.objects.get().status == Feedback.Status.REJECTED


def test_staff_lists_model_versions_and_shows_one(staff_api, active_model):
    """GET /models lists versions; GET /models/{id} adds the recipe and who activated it."""
    [listed] = staff_api.get(url("models")).json()
    assert (listed["id"], listed["status"]) == (active_model.id, "active")
    assert listed["metrics"] == active_model.metrics and "test_accuracy" in listed
    detail = staff_api.get(url("model", active_model.id)).json()
    assert detail["train_config"] == active_model.train_config and detail["data"] == active_model.data
    assert detail["activated_by"] is None and detail["registered_at"]


def test_staff_activates_another_version(staff_api, active_model, model_store):
    """POST /models/{id}/activate makes it active and retires the previous one."""
    older = model_version_register(version_id=model_store[1].id)
    body = staff_api.post(url("model-activate", older.id)).json()
    assert (body["id"], body["status"], body["activated_by"]) == (older.id, "active", "staff")
    assert ModelVersion.objects.get(pk=active_model.id).status == ModelVersion.Status.RETIRED


def test_health_reports_the_active_version_and_whether_it_is_loaded(api, staff_api, active_model):
    """GET /health tells staff that the database answers and whether this process serves the active version."""
    before = staff_api.get(url("health")).json()
    assert before == {"status": "ok", "database": True, "active_version": active_model.id,
                      "loaded_version": None, "active_loaded": False, "pid": os.getpid(), "load_error": None,
                      "worker": {"alive": False, "workers": [],
                                 "unserved_queues": ["training", "explanations", "maintenance"]},
                      "explanations": {"pending": 0, "running": 0, "oldest_wait_s": None, "recent_wait_p50_s": None}}
    api.post(url("predict"), {"text": "load it"}, format="json")
    after = staff_api.get(url("health"))
    assert after.status_code == 200 and after.json()["active_loaded"] is True
    assert after.json()["loaded_version"] == active_model.id


def test_health_shows_a_live_worker(staff_api, db):
    """A worker's recent heartbeat appears in /health (for staff)."""
    from django.utils import timezone

    from reviews.worker import queue

    queue.heartbeat(worker_id="host:1:abc", started_at=timezone.now(), doing="explanations")
    worker = staff_api.get(url("health")).json()["worker"]
    assert worker["alive"] and worker["workers"][0]["id"] == "host:1:abc"


def test_health_is_503_when_the_database_is_down(api, monkeypatch):
    """When the database does not answer, /health says so with a 503."""
    from django.db import OperationalError

    def down():
        raise OperationalError("connection refused")

    monkeypatch.setattr("reviews.selectors.model_version_active", down)
    response = api.get(url("health"))
    assert response.status_code == 503
    assert response.json()["status"] == "error" and response.json()["database"] is False


def test_predict_before_the_first_model_is_503(api):
    """With no active model, predicting answers 503 with Retry-After and stores nothing."""
    from reviews import predictor

    predictor.reset()
    response = api.post(url("predict"), {"text": POSITIVE, "store": True}, format="json")
    assert response.status_code == 503 and response["Retry-After"]
    assert error(response)["code"] == "no_active_model" and Review.objects.count() == 0


# --- Who sees what --------------------------------------------------------------------------


def test_callers_see_only_their_own_reviews(active_model, member, staff):
    """Anonymous callers see their session's reviews, members their own, staff everyone's."""
    anonymous, stranger, member_api, staff_api = APIClient(), APIClient(), token_client(member), token_client(staff)
    anon_review, member_review = create(anonymous), create(member_api)
    assert [r["id"] for r in anonymous.get(url("reviews")).json()["results"]] == [anon_review["id"]]
    assert [r["id"] for r in member_api.get(url("reviews")).json()["results"]] == [member_review["id"]]
    assert stranger.get(url("reviews")).json()["count"] == 0
    assert stranger.get(url("review", anon_review["id"])).status_code == 404
    assert member_api.get(url("review", anon_review["id"])).status_code == 404
    assert staff_api.get(url("reviews")).json()["count"] == 2


def test_cannot_flag_someone_elses_prediction(active_model, member):
    """Flagging a prediction the caller cannot see is a 404."""
    prediction = create(APIClient())["prediction"]
    response = token_client(member).post(url("prediction-flag", prediction["id"]), {"label": "negative"}, format="json")
    assert response.status_code == 404 and error(response)["code"] == "not_found"


ANON, MEMBER, BARE, STAFF = "anonymous", "member", "staff without permissions", "staff"
OK = "2xx"
# Every endpoint and method, and what each kind of caller gets. A new endpoint must be added here:
# test_the_matrix_covers_every_endpoint fails until it is.
PERMISSIONS = [
    # url name,              method, anon, member, staff without permissions, staff (a superuser)
    ("predict",                "post", OK,   OK,   OK,   OK),
    ("reviews",                "get",  OK,   OK,   OK,   OK),
    ("reviews",                "post", OK,   OK,   OK,   OK),
    ("review",                 "get",  OK,   OK,   OK,   OK),
    ("prediction-flag",        "post", OK,   OK,   OK,   OK),
    ("feedback",               "get",  401,  403,  403,  OK),
    ("feedback-export",        "get",  401,  403,  403,  OK),
    ("feedback-approve",       "post", 401,  403,  403,  OK),
    ("feedback-reject",        "post", 401,  403,  403,  OK),
    ("models",                 "get",  401,  403,  403,  OK),
    ("model",                  "get",  401,  403,  403,  OK),
    ("model-activate",         "post", 401,  403,  403,  OK),
    ("prediction-explanation", "post", OK,   OK,   OK,   OK),
    ("prediction-explanation", "get",  OK,   OK,   OK,   OK),
    ("training-runs",          "get",  401,  403,  403,  OK),
    ("training-runs",          "post", 401,  403,  403,  OK),
    ("training-run",           "get",  401,  403,  403,  OK),
    ("training-run-promote",   "post", 401,  403,  403,  OK),
    ("audit",                  "get",  401,  403,  403,  OK),
    ("queue",                  "get",  401,  403,  403,  OK),
    ("queue-label",            "post", 401,  403,  403,  OK),
    ("health",                 "get",  OK,   OK,   OK,   OK),
]


def test_the_matrix_covers_every_endpoint():
    """Every URL pattern under /api/v1/ and every method it implements has a row in PERMISSIONS."""
    from reviews.api.urls import urlpatterns

    methods = ("get", "post", "put", "patch", "delete")
    implemented = {(p.name, m) for p in urlpatterns for m in methods if hasattr(p.callback.cls, m)}
    assert implemented == {(name, method) for name, method, *_ in PERMISSIONS}


@pytest.fixture
def caller_clients(active_model, member, staff, django_user_model):
    """For each kind of caller: a client, with a review of its own and a flag to decide."""
    bare = django_user_model.objects.create_user("bare", password="pw-bare-12345", is_staff=True)
    clients = {ANON: APIClient(), MEMBER: token_client(member), BARE: token_client(bare), STAFF: token_client(staff)}
    owned = {who: create(client) for who, client in clients.items()}
    prediction = review_submit(text="staff's review", user=staff)
    feedback, _ = feedback_flag(prediction=prediction, label=other(prediction.label), user=staff)
    return clients, owned, feedback


def promotable_run(version):
    """A finished retrain whose candidate (here: the active version itself) passed the gate."""
    from reviews.models import TrainingRun

    return TrainingRun.objects.create(trigger=TrainingRun.Trigger.MANUAL, profile="retrain", status="done",
                                      model_version=version, decision=TrainingRun.Decision.AWAITING)


@pytest.mark.parametrize("name,method,anonymous,member_gets,bare_gets,staff_gets", PERMISSIONS)
@pytest.mark.parametrize("who", [ANON, MEMBER, BARE, STAFF])
def test_permission_matrix(caller_clients, active_model, who, name, method, anonymous, member_gets, bare_gets,
                           staff_gets):
    """Each caller gets the matrix's answer from each endpoint and method."""
    clients, owned, feedback = caller_clients
    review = owned[who]
    if name == "prediction-explanation" and method == "get":
        explanation_request(prediction=Prediction.objects.get(pk=review["prediction"]["id"]))
    if name.startswith("training-run"):
        run = promotable_run(active_model)
    args = {
        "prediction-explanation": [review["prediction"]["id"]],
        "training-run": [run.pk] if name.startswith("training-run") else [],
        "training-run-promote": [run.pk] if name.startswith("training-run") else [],
        "review": [review["id"]],
        "prediction-flag": [review["prediction"]["id"]],
        "queue-label": [review["prediction"]["id"]],
        "feedback-approve": [feedback.pk],
        "feedback-reject": [feedback.pk],
        "model": [active_model.id],
        "model-activate": [active_model.id],
    }.get(name, [])
    body = {
        "predict": {"text": POSITIVE},
        "reviews": {"text": POSITIVE},
        "prediction-flag": {"label": other(review["prediction"]["label"])},
        "queue-label": {"label": "positive"},
    }.get(name, {})
    response = getattr(clients[who], method)(url(name, *args), body, format="json")
    expected = {ANON: anonymous, MEMBER: member_gets, BARE: bare_gets, STAFF: staff_gets}[who]
    if expected == OK:
        assert 200 <= response.status_code < 300, response.content
    else:
        assert response.status_code == expected
        assert error(response)["code"] == {401: "not_authenticated", 403: "permission_denied"}[expected]


def test_anonymous_on_a_staff_endpoint_is_told_how_to_authenticate(api, db):
    """A 401 names the Token scheme in WWW-Authenticate."""
    response = api.get(url("models"))
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_a_bad_token_is_401_even_where_no_sign_in_is_needed(active_model):
    """An unknown token is refused, not silently treated as anonymous."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.post(url("predict"), {"text": POSITIVE}, format="json")
    assert response.status_code == 401 and error(response)["code"] == "authentication_failed"


def test_session_sign_in_works_too(active_model, staff):
    """A signed-in browser session reaches staff endpoints without a token."""
    client = APIClient()
    client.force_login(staff)
    assert client.get(url("models")).status_code == 200


# --- Validation and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "non_field_errors"),
        ({"text": None}, "text"),
        ({"text": 5}, "text"),
        ({"text": True}, "text"),
        ({"text": ["a list"]}, "text"),
        ({"text": {"a": "dict"}}, "text"),
        ({"text": ""}, "text"),
        ({"text": "  \n "}, "text"),
        ({"text": "nul \x00 inside"}, "text"),
        ({"texts": []}, "texts"),
        ({"texts": None}, "texts"),
        ({"texts": "not a list"}, "texts"),
        ({"texts": ["fine", 3]}, "texts.1"),
        ({"texts": ["fine", None]}, "texts.1"),
        ({"texts": ["fine", ""]}, "texts.1"),
        ({"text": "one", "texts": ["two"]}, "non_field_errors"),
        ({"text": "fine", "store": "perhaps"}, "store"),
        (["a", "list"], "non_field_errors"),
        ("just a string", "non_field_errors"),
        (42, "non_field_errors"),
        (None, "non_field_errors"),
    ],
)
def test_bad_predict_input_is_a_400_naming_the_field(api, active_model, body, field):
    """Missing, null, non-string, empty or mixed input is a 400 that names the field."""
    response = api.post(url("predict"), json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    problem = error(response)
    assert field == "non_field_errors" and not problem["fields"] or field in problem["fields"]
    assert Review.objects.count() == 0


def test_a_text_over_the_limit_is_a_413(api, active_model, settings):
    """A text longer than SENTIMENT_REVIEW_MAX_CHARS is a 413 naming the text."""
    settings.SENTIMENT_REVIEW_MAX_CHARS = 50
    response = api.post(url("predict"), {"texts": ["fine", "x" * 51]}, format="json")
    assert response.status_code == 413
    problem = error(response)
    assert problem["code"] == "text_too_long" and "the limit is 50" in problem["fields"]["texts.1"][0]
    assert api.post(url("reviews"), {"text": "x" * 51}, format="json").status_code == 413


def test_a_batch_over_the_limit_is_a_400(api, active_model, settings):
    """More texts than SENTIMENT_API_MAX_BATCH is a 400 saying the limit."""
    settings.SENTIMENT_API_MAX_BATCH = 3
    response = api.post(url("predict"), {"texts": ["a", "b", "c", "d"]}, format="json")
    assert response.status_code == 400 and "at most 3 texts" in error(response)["fields"]["texts"][0]
    assert api.post(url("predict"), {"texts": ["a", "b", "c"]}, format="json").status_code == 200


def test_a_body_over_the_limit_is_a_413_before_it_is_read(api, active_model, settings):
    """A body over SENTIMENT_API_MAX_BODY_BYTES is refused with a 413."""
    settings.SENTIMENT_API_MAX_BODY_BYTES = 1024
    response = api.post(url("predict"), {"text": "y" * 2000}, format="json")
    assert response.status_code == 413 and error(response)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "raw",
    [b'{"text": "unclosed', b"{'text': 'single quotes'}", b'{"text": NaN}', b"[" * 100_000 + b"]" * 100_000,
     b'{"text": "\\ud800 lone surrogate"}', b'{"text": "\xff\xfe not utf-8"}'],
    ids=["truncated", "single-quotes", "nan", "deep", "surrogate", "not-utf8"],
)
def test_malformed_json_is_a_400(api, active_model, raw):
    """Bodies that are not strict JSON are a 400 parse error, never a 500."""
    response = api.post(url("predict"), raw, content_type="application/json")
    assert response.status_code == 400 and error(response)["code"] == "parse_error"


@pytest.mark.parametrize(
    "content_type,raw",
    [("text/plain", b"a review"), ("application/x-www-form-urlencoded", b"text=a+review"),
     ("multipart/form-data; boundary=x", b"--x--"), ("", b'{"text": "a review"}')],
)
def test_a_body_that_is_not_json_is_a_415(api, active_model, content_type, raw):
    """Writes accept JSON only: another content type is a 415."""
    response = api.generic("POST", url("predict"), raw, content_type=content_type)
    assert response.status_code == 415 and error(response)["code"] == "unsupported_media_type"


def test_flag_with_an_unknown_label_is_a_400(api, active_model):
    """A label that is not negative or positive is a 400 on the label field."""
    prediction = create(api)["prediction"]
    response = api.post(url("prediction-flag", prediction["id"]), {"label": "neutral"}, format="json")
    assert response.status_code == 400 and "label" in error(response)["fields"]


def test_flag_equal_to_the_prediction_is_a_400(api, active_model):
    """A flag naming the predicted label is refused with the code same_label."""
    prediction = create(api)["prediction"]
    response = api.post(url("prediction-flag", prediction["id"]), {"label": prediction["label"]}, format="json")
    assert response.status_code == 400 and error(response)["code"] == "same_label"
    assert Feedback.objects.count() == 0


@pytest.mark.parametrize(
    "path",
    ["/api/v1/reviews/999999", "/api/v1/reviews/abc", "/api/v1/reviews/-1", "/api/v1/reviews/" + "9" * 40,
     "/api/v1/reviews/1/", "/api/v1/predictions/999999/flag", "/api/v1/feedback/999999/approve",
     "/api/v1/models/no-such-version", "/api/v1/models/..%2f..%2fetc", "/api/v1/nothing-here", "/api/nothing"],
)
def test_unknown_ids_and_paths_are_a_json_404(staff_api, active_model, path):
    """Unknown ids, ids that are not numbers and unknown paths are a 404 in the error shape."""
    response = staff_api.post(path, {}, format="json") if path.endswith(("/flag", "/approve")) else staff_api.get(path)
    assert response.status_code == 404 and error(response)["code"] == "not_found"


def test_a_wrong_method_is_a_json_405_with_allow(staff_api, active_model):
    """An unsupported method is a 405 that lists the allowed ones."""
    response = staff_api.delete(url("predict"))
    assert response.status_code == 405 and error(response)["code"] == "method_not_allowed"
    assert "POST" in response["Allow"]


@pytest.mark.parametrize(
    "params", [{"label": "neutral"}, {"flagged": "perhaps"}, {"created_from": "2026-13-45"}, {"page": "0"},
               {"page": "first"}, {"page_size": "1000"}, {"search": "nul\x00"}, {"model_version": "x" * 65}],
)
def test_bad_list_filters_are_a_400(api, active_model, params):
    """Filters and page parameters of the wrong kind are a 400 naming the parameter."""
    response = api.get(url("reviews"), params)
    assert response.status_code == 400 and set(error(response)["fields"]) == set(params)


def test_a_page_past_the_end_is_a_404(staff_api, active_model):
    """Asking for a page after the last one is a 404."""
    response = staff_api.get(url("feedback"), {"page": "99"})
    assert response.status_code == 404 and error(response)["code"] == "not_found"


def test_a_crash_under_api_is_a_json_500(staff_api, active_model, monkeypatch):
    """An unexpected exception answers a 500 in the error shape, not Django's HTML page."""
    def boom():
        raise RuntimeError("unexpected")

    monkeypatch.setattr("reviews.selectors.model_version_list", boom)
    staff_api.raise_request_exception = False
    response = staff_api.get(url("models"))
    assert response.status_code == 500 and error(response)["code"] == "server_error"
    assert "unexpected" not in response.content.decode()


def test_errors_stay_json_in_debug_mode(staff_api, active_model, settings):
    """With DEBUG on, Django's technical 404 page is still replaced by the error shape."""
    settings.DEBUG = True
    response = staff_api.get("/api/v1/nothing-here")
    assert response.status_code == 404 and error(response)["code"] == "not_found"


def test_pages_outside_the_api_keep_their_html_errors(client, db):
    """The website's own 404 stays an HTML page."""
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")


def test_an_accept_header_for_html_still_gets_json(api, active_model):
    """The API answers JSON whatever Accept says."""
    response = api.get(url("health"), HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


# --- Throttling -------------------------------------------------------------------------------


def test_predict_is_throttled_with_retry_after(api, active_model, settings):
    """Past the anonymous predict rate the API answers 429 with Retry-After."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "predict": {"anon": "2/min", "user": "100/min"}}
    for _ in range(2):
        assert api.post(url("predict"), {"text": POSITIVE}, format="json").status_code == 200
    response = api.post(url("predict"), {"text": POSITIVE}, format="json")
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 60
    assert error(response)["code"] == "throttled"


def test_a_batch_counts_each_text(api, active_model, settings):
    """Two batches of two texts are four predictions against a rate of three."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "predict": {"anon": "3/min", "user": "100/min"}}
    assert api.post(url("predict"), {"texts": ["a", "b"]}, format="json").status_code == 200
    assert api.post(url("predict"), {"texts": ["a", "b"]}, format="json").status_code == 429
    assert api.post(url("predict"), {"text": "a"}, format="json").status_code == 200


def test_the_api_and_the_website_share_one_budget(client, api, active_model, settings):
    """Predictions on the website count against the same anonymous budget as the API's."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "predict": {"anon": "1/min", "user": "100/min"}}
    assert client.post(reverse("home"), {"text": POSITIVE}).status_code == 302
    assert api.post(url("reviews"), {"text": POSITIVE}, format="json").status_code == 429


def test_users_have_their_own_rate(member_api, api, active_model, settings):
    """A signed-in user is counted apart from anonymous callers, at the user rate."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "predict": {"anon": "1/min", "user": "2/min"}}
    assert api.post(url("predict"), {"text": "a"}, format="json").status_code == 200
    answers = [member_api.post(url("predict"), {"text": "a"}, format="json").status_code for _ in range(3)]
    assert answers == [200, 200, 429]


def test_flagging_is_throttled(api, active_model, settings):
    """Flags have their own rate; past it the API answers 429."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "flag": {"anon": "1/min", "user": "100/min"}}
    prediction = create(api)["prediction"]
    flag_url = url("prediction-flag", prediction["id"])
    assert api.post(flag_url, {"label": other(prediction["label"])}, format="json").status_code == 201
    response = api.post(flag_url, {"label": other(prediction["label"])}, format="json")
    assert response.status_code == 429 and response["Retry-After"]


def test_reading_is_not_throttled(api, active_model, settings):
    """Listing reviews does not use the predict budget."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "predict": {"anon": "1/min", "user": "100/min"}}
    assert [api.get(url("reviews")).status_code for _ in range(3)] == [200] * 3
    assert api.post(url("predict"), {"text": "a"}, format="json").status_code == 200


# --- Tokens and docs ---------------------------------------------------------------------------


def test_api_token_command_creates_then_prints_the_same_token(member, capsys):
    """`manage.py api_token USER` creates the token once and prints it every time."""
    call_command("api_token", "member")
    first = capsys.readouterr().out.strip()
    call_command("api_token", "member")
    assert capsys.readouterr().out.strip() == first and len(first) == 40
    call_command("api_token", "member", "--rotate")
    assert capsys.readouterr().out.strip() != first


def test_api_token_command_refuses_an_unknown_user(db):
    """An unknown username is an error, not a new account."""
    with pytest.raises(CommandError, match="no user"):
        call_command("api_token", "nobody")


def test_a_token_from_the_command_authenticates(member, active_model, capsys):
    """The printed token works as `Authorization: Token KEY`."""
    call_command("api_token", "member")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {capsys.readouterr().out.strip()}")
    assert client.get(url("models")).status_code == 403  # authenticated, but not staff


def test_tokens_are_managed_in_the_admin(client, staff):
    """Staff see and add tokens in the admin."""
    client.force_login(staff)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 200
    assert client.get("/admin/authtoken/tokenproxy/add/").status_code == 200


def test_docs_render_with_local_assets_only(client, db):
    """/api/docs/ is served with Swagger UI from our own static files (works offline)."""
    from django.contrib.staticfiles import finders

    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_schema_is_served_as_openapi_3(client, db):
    """/api/schema/ serves the OpenAPI 3 document listing every endpoint."""
    response = client.get("/api/schema/", {"format": "json"})
    schema = response.json()
    assert response.status_code == 200 and schema["openapi"].startswith("3.")
    assert "/api/v1/predict" in schema["paths"] and "/api/v1/models/{id}/activate" in schema["paths"]


def test_an_anonymous_health_probe_reads_only_what_it_shows(api, active_model, django_assert_num_queries):
    """A load balancer's probe costs the database check and the active version, not the workers
    and the explanation queue that only staff see."""
    with django_assert_num_queries(2):
        assert api.get(url("health")).status_code == 200
