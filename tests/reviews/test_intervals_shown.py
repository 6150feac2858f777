"""A version's test accuracy comes with its 95% interval wherever it is shown (API, dashboard),
and the gate's note says whether a candidate's difference is significant (McNemar)."""

import pytest
from django.utils import timezone

from reviews.models import ModelVersion
from reviews.worker.training import comparison_note

pytestmark = pytest.mark.django_db


@pytest.fixture
def measured():
    return ModelVersion.objects.create(
        id="v-measured", base_model="tiny", created_at=timezone.now(),
        metrics={"test": {"accuracy": 0.9298, "intervals": {"accuracy": [0.9226, 0.9368]}}})


def test_the_api_gives_the_interval(measured, staff_api):
    ModelVersion.objects.create(id="v-older", base_model="tiny", created_at=timezone.now(), metrics={"test": {"accuracy": 0.9}})
    body = {v["id"]: v for v in staff_api.get("/api/v1/models").json()}
    assert body["v-measured"]["test_accuracy_interval"] == [0.9226, 0.9368]
    assert body["v-older"]["test_accuracy_interval"] is None
    assert staff_api.get("/api/v1/models/v-measured").json()["metrics"]["test"]["intervals"]["accuracy"] == [0.9226, 0.9368]


def test_the_dashboard_shows_the_interval(measured, staff, client):
    client.force_login(staff)
    assert "0.9226–0.9368" in client.get("/dashboard/").content.decode()


def test_the_gate_note_says_whether_the_difference_is_significant():
    comparison = {"n": 2000, "of": 5000, "difference": 0.004, "low": -0.001, "high": 0.009, "p_value": 0.12,
                  "significant": False}
    assert comparison_note(comparison).endswith("McNemar p = 0.12, not significant at 5%")
    older = {k: v for k, v in comparison.items() if k not in ("p_value", "significant")}
    assert "McNemar" not in comparison_note(older)
