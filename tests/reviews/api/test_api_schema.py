"""The OpenAPI schema: it generates cleanly, and the API keeps its promises under property-based
fuzzing (schemathesis, in-process against the WSGI app, with a staff token)."""

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reviews.services.accounts import api_token_issue
from reviews.services.explanations import explanation_request
from reviews.services.feedback import feedback_flag
from reviews.services.model_versions import model_version_register
from reviews.services.reviews import review_submit
from reviews.models import TrainingRun

pytestmark = pytest.mark.django_db
# Per endpoint and generation mode (valid and invalid data): enough to find a crash, small
# enough that the whole run takes seconds. derandomize: the same cases every run, so CI is stable.
MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def test_schema_generates_with_no_warnings(tmp_path):
    """`manage.py spectacular --validate --fail-on-warn` passes: every endpoint is fully described."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/predict" in text and "examples:" in text


@pytest.fixture
def api_schema(active_model):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from sentiment_site.wsgi import application

    # Like Django's test client: the WSGI handler must not close the test's database connection
    # (it holds the transaction that keeps each test apart).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(staff):
    return api_token_issue(user=staff).key


@pytest.fixture
def known_ids(active_model, model_store, staff):
    """Ids that exist, so that generated requests also reach past the 404 of an unknown id."""
    prediction = review_submit(text="a review to flag", user=staff)
    right = "negative" if prediction.label == "positive" else "positive"
    feedback, _ = feedback_flag(prediction=prediction, label=right, user=staff)
    candidate = model_version_register(version_id=model_store[1].id)
    explanation_request(prediction=prediction)
    run = TrainingRun.objects.create(trigger=TrainingRun.Trigger.MANUAL, profile="retrain", status="done",
                                     model_version=candidate, decision=TrainingRun.Decision.AWAITING)
    return {
        "/api/v1/predictions/{id}/explanation": prediction.pk,
        "/api/v1/training-runs/{id}": run.pk,
        "/api/v1/training-runs/{id}/promote": run.pk,
        "/api/v1/reviews/{id}": prediction.review_id,
        "/api/v1/predictions/{id}/flag": prediction.pk,
        "/api/v1/feedback/{id}/approve": feedback.pk,
        "/api/v1/feedback/{id}/reject": feedback.pk,
        "/api/v1/models/{id}": candidate.id,
        "/api/v1/models/{id}/activate": candidate.id,
    }


def test_api_keeps_its_schema_under_fuzzing(api_schema, staff_token, known_ids, subtests):
    """Generated requests, valid and invalid, never get a 5xx nor a response outside the schema."""
    # Driven by Hypothesis directly: schemathesis' own pytest plugin does not run on pytest 9.
    headers = {"Authorization": f"Token {staff_token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # Every operation the URL patterns implement is fuzzed (a new endpoint cannot be missed).
    from reviews.api.urls import urlpatterns

    implemented = sum(1 for p in urlpatterns for m in ("get", "post", "put", "patch", "delete") if hasattr(p.callback.cls, m))
    assert len(operations) == implemented
    runs = [(operation, mode, None) for operation in operations for mode in GenerationMode]
    runs += [(operation, GenerationMode.POSITIVE, {"id": known_ids[operation.path]})
             for operation in operations if operation.path in known_ids]
    for operation, mode, path_parameters in runs:
        with subtests.test(msg=f"{operation.label} ({mode.value}{', known id' if path_parameters else ''})"):

            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def call(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:
                # Nothing to make invalid: the operation takes no input at all (GET /health).
                assert mode is GenerationMode.NEGATIVE and not operation.body and not operation.query
