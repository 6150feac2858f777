"""The explanation and training-run endpoints (under the API's rules)."""

import pytest
from django.core.management import call_command

from reviews.models import Explanation, TrainingRun, WorkStatus
from tests.reviews.conftest import token_client
from tests.reviews.api.test_api import create, error, url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small(small_explanations):
    """Every test here uses cheap explanations."""


def test_explanation_is_202_while_pending_then_200_with_the_result(api, active_model):
    """POST queues (202, Retry-After), GET answers 202 until the worker is done, then 200 with words."""
    prediction = create(api, "a superb wonderful film")["prediction"]
    assert api.get(url("prediction-explanation", prediction["id"])).status_code == 404
    queued = api.post(url("prediction-explanation", prediction["id"]))
    assert queued.status_code == 202 and queued["Retry-After"] == "2"
    assert queued.json()["status"] == "pending" and queued.json()["result"] is None
    assert api.get(url("prediction-explanation", prediction["id"])).status_code == 202
    call_command("runworker", "--once")
    done = api.get(url("prediction-explanation", prediction["id"]))
    body = done.json()
    assert done.status_code == 200 and body["status"] == "done" and body["model_version"] == active_model.id
    assert body["result"]["selection"] == "gcv"  # how the words were chosen (the default)
    words = body["result"]["words"]
    assert words and all("a superb wonderful film"[s:e] == w["word"] for w in words for s, e in w["spans"])
    again = api.post(url("prediction-explanation", prediction["id"]))
    assert again.status_code == 200 and again.json()["id"] == body["id"] and Explanation.objects.count() == 1


def test_explanation_of_an_unknown_or_foreign_prediction_is_404(api, active_model, member):
    """Another caller's prediction and an unknown id are both 404 in the one error shape."""
    prediction = create(api)["prediction"]
    stranger = token_client(member)
    assert error(stranger.post(url("prediction-explanation", prediction["id"])))["code"] == "not_found"
    assert api.post(url("prediction-explanation", 999999)).status_code == 404


def test_staff_force_a_retrain_and_read_the_run(staff_api, active_model):
    """POST /training-runs queues one run (202); a second POST returns the same open run (200)."""
    first = staff_api.post(url("training-runs"))
    again = staff_api.post(url("training-runs"))
    assert first.status_code == 202 and again.status_code == 200 and again.json()["id"] == first.json()["id"]
    body = first.json()
    assert (body["trigger"], body["status"], body["requested_by"]) == ("manual", "pending", "staff")
    listed = staff_api.get(url("training-runs")).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert staff_api.get(url("training-run", body["id"])).json()["status"] == "pending"
    assert staff_api.get(url("training-run", 424242)).status_code == 404


def test_promote_refuses_a_run_that_did_not_pass_the_gate(staff_api, active_model):
    """Only a candidate that passed the gate can be promoted (400 otherwise)."""
    run = TrainingRun.objects.create(trigger="manual", profile="retrain", status=WorkStatus.DONE,
                                     model_version=active_model, decision=TrainingRun.Decision.REJECTED)
    response = staff_api.post(url("training-run-promote", run.pk))
    assert response.status_code == 400 and "passed the gate" in error(response)["message"]


def test_asking_for_explanations_past_the_explain_rate_is_429(api, active_model, settings):
    """With an explain rate of 2/min the third POST is refused (429, Retry-After) and queues nothing."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "explain": {"anon": "2/min", "user": "100/min"}}
    predictions = [create(api, f"a superb film number {i}")["prediction"]["id"] for i in range(3)]
    assert [api.post(url("prediction-explanation", pk)).status_code for pk in predictions[:2]] == [202, 202]
    refused = api.post(url("prediction-explanation", predictions[2]))
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert error(refused)["code"] == "throttled"
    assert sorted(Explanation.objects.values_list("prediction_id", flat=True)) == sorted(predictions[:2])


def test_polling_an_explanation_does_not_use_the_explain_rate(api, active_model, settings):
    """GETs of a pending explanation are never throttled and leave the explain budget untouched."""
    settings.SENTIMENT_RATES = {**settings.SENTIMENT_RATES, "explain": {"anon": "2/min", "user": "100/min"}}
    first, second = (create(api, f"a superb film number {i}")["prediction"]["id"] for i in range(2))
    assert api.post(url("prediction-explanation", first)).status_code == 202
    assert [api.get(url("prediction-explanation", first)).status_code for _ in range(5)] == [202] * 5
    assert api.post(url("prediction-explanation", second)).status_code == 202
