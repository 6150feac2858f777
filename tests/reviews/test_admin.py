"""The admin's own actions, clicked through the admin by a staff superuser."""

import pytest
from django.urls import reverse

from reviews.models import Feedback, ModelVersion, TrainingRun, WorkStatus
from reviews.selectors import model_version_active
from reviews.services.feedback import feedback_flag
from reviews.services.model_versions import model_version_register
from reviews.services.reviews import review_submit
from tests.reviews.conftest import approved_corrections, tamper_weights

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def candidate(active_model, model_store):
    """The second tiny version, registered as a candidate beside the active first one."""
    row = model_version_register(version_id=model_store[1].id)
    assert row.status == ModelVersion.Status.CANDIDATE
    return row


def action(client, model: str, name: str, selected) -> str:
    """Run an admin action on the selected rows; the text of the page it leads to."""
    response = client.post(reverse(f"admin:reviews_{model}_changelist"),
                           {"action": name, "_selected_action": [str(pk) for pk in selected]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def finished_run(version, decision, correction_ids=()):
    """A retrain that ended with `decision` for `version` (as the worker would leave it)."""
    return TrainingRun.objects.create(trigger=TrainingRun.Trigger.MANUAL, profile="retrain", status=WorkStatus.DONE,
                                      model_version=version, decision=decision, correction_ids=list(correction_ids))


def pending_flags(n):
    """n flags waiting for a decision, from n different visitors."""
    flags = []
    for i in range(n):
        prediction = review_submit(text=f"a great film number {i}", session_key=f"visitor{i}")
        other = "negative" if prediction.label == "positive" else "positive"
        flags.append(feedback_flag(prediction=prediction, label=other, session_key=f"visitor{i}")[0])
    return flags


def test_force_a_retrain_queues_one_manual_run(admin_client, staff):
    """"Force a retrain" queues one pending manual run requested by the staff member."""
    page = admin_client.post(reverse("admin:reviews_trainingrun_force"), follow=True).content.decode()
    run = TrainingRun.objects.get()
    assert (run.trigger, run.status, run.requested_by) == (TrainingRun.Trigger.MANUAL, WorkStatus.PENDING, staff)
    assert f"Training run {run.pk} queued" in page


def test_forcing_again_says_a_run_is_already_open_and_queues_nothing(admin_client):
    """A second click while a run is open queues nothing and says one is already pending."""
    admin_client.post(reverse("admin:reviews_trainingrun_force"))
    page = admin_client.post(reverse("admin:reviews_trainingrun_force"), follow=True).content.decode()
    assert TrainingRun.objects.count() == 1
    assert f"Training run {TrainingRun.objects.get().pk} is already pending; one run at a time." in page


def test_promote_activates_an_awaiting_candidate_and_marks_its_corrections_used(admin_client, candidate, staff):
    """The "promote" action activates a candidate waiting for staff and marks its corrections used."""
    used = [f.pk for f in approved_corrections(staff, 3)]
    run = finished_run(candidate, TrainingRun.Decision.AWAITING, used)
    page = action(admin_client, "trainingrun", "promote", [run.pk])
    assert f"Run {run.pk}: {candidate.id} is now active." in page
    assert model_version_active().id == candidate.id
    assert sorted(Feedback.objects.filter(training_run=run).values_list("pk", flat=True)) == sorted(used)
    run.refresh_from_db()
    assert run.decision == TrainingRun.Decision.PROMOTED


def test_promote_refuses_a_rejected_candidate_with_a_message(admin_client, candidate, active_model, staff):
    """A run whose candidate the gate rejected is not promoted; staff are told why."""
    used = [f.pk for f in approved_corrections(staff, 3)]
    run = finished_run(candidate, TrainingRun.Decision.REJECTED, used)
    page = action(admin_client, "trainingrun", "promote", [run.pk])
    assert f"Run {run.pk}: Only a candidate that passed the gate can be promoted." in page
    assert model_version_active().id == active_model.id
    assert not Feedback.objects.filter(training_run__isnull=False).exists()


def test_activate_makes_the_one_selected_version_active(admin_client, candidate, active_model, staff):
    """The "activate" action on one version activates it and retires the previous one."""
    page = action(admin_client, "modelversion", "activate", [candidate.id])
    assert f"{candidate.id} is now active" in page
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.ACTIVE and candidate.activated_by == staff
    assert ModelVersion.objects.get(pk=active_model.id).status == ModelVersion.Status.RETIRED


def test_activate_refuses_two_selected_versions(admin_client, candidate, active_model):
    """With two versions selected nothing is activated and staff are asked to choose one."""
    page = action(admin_client, "modelversion", "activate", [candidate.id, active_model.id])
    assert "Select exactly one version to activate." in page
    assert model_version_active().id == active_model.id
    assert ModelVersion.objects.get(pk=candidate.id).status == ModelVersion.Status.CANDIDATE


def test_activate_refuses_a_tampered_version_and_marks_it_rejected(admin_client, candidate, active_model, own_store):
    """A version whose weights changed on disk is not activated: it is marked rejected, with a message."""
    tamper_weights(own_store / candidate.id)
    page = action(admin_client, "modelversion", "activate", [candidate.id])
    assert f"{candidate.id} failed verification and was not activated" in page
    assert ModelVersion.objects.get(pk=candidate.id).status == ModelVersion.Status.REJECTED
    assert model_version_active().id == active_model.id


def test_approve_in_bulk_approves_every_selected_flag(admin_client, active_model, staff):
    """The feedback "approve" action approves each selected flag and records the reviewer."""
    flags = pending_flags(2)
    page = action(admin_client, "feedback", "approve", [f.pk for f in flags])
    assert "Approved 2 flag(s)." in page
    assert list(Feedback.objects.values_list("status", "reviewed_by")) == [(Feedback.Status.APPROVED, staff.pk)] * 2


def test_reject_in_bulk_rejects_every_selected_flag(admin_client, active_model, staff):
    """The feedback "reject" action rejects each selected flag and records the reviewer."""
    flags = pending_flags(2)
    page = action(admin_client, "feedback", "reject", [f.pk for f in flags])
    assert "Rejected 2 flag(s)." in page
    assert list(Feedback.objects.values_list("status", "reviewed_by")) == [(Feedback.Status.REJECTED, staff.pk)] * 2
