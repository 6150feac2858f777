"""The audit trail: every staff decision, activation, forced retrain and promotion, append-only."""

import pytest
from django.urls import reverse

from reviews.models import AuditEvent, AuditImmutable, TrainingRun
from reviews.services.feedback import feedback_flag
from reviews.services.reviews import review_submit

pytestmark = pytest.mark.django_db


def flag(text="a fine film indeed"):
    prediction = review_submit(text=text, session_key="someone")
    other = "negative" if prediction.label == "positive" else "positive"
    return feedback_flag(prediction=prediction, label=other, session_key="someone")[0]


def test_a_decision_changed_later_keeps_both_with_who_before_after_and_note(active_model, staff, staff_api):
    """Approving, then rejecting the same flag through the API: two events, each with its actor,
    the state before and after, and the note; the API lists them newest first and filters."""
    flagged = flag()
    assert staff_api.post(f"/api/v1/feedback/{flagged.pk}/approve", {"note": "right"}, format="json").status_code == 200
    assert staff_api.post(f"/api/v1/feedback/{flagged.pk}/reject", {"note": "on second thought"},
                          format="json").status_code == 200
    rejected, approved = AuditEvent.objects.filter(object_type="feedback", object_id=str(flagged.pk))
    assert (approved.action, approved.actor, approved.actor_id, approved.note) == ("feedback.approve", staff.username,
                                                                                    staff.pk, "right")
    assert approved.before["status"] == "pending" and approved.after["status"] == "approved"
    assert rejected.before == {"status": "approved", "reviewed_by": staff.username, "note": "right"}
    assert rejected.after["status"] == "rejected" and rejected.note == "on second thought"

    body = staff_api.get("/api/v1/audit", {"object_type": "feedback", "object_id": flagged.pk}).json()
    assert [e["action"] for e in body["results"]] == ["feedback.reject", "feedback.approve"]
    assert body["results"][1]["before"]["status"] == "pending" and body["results"][0]["actor"] == staff.username
    assert staff_api.get("/api/v1/audit", {"action": "model.activate"}).json()["count"] == 1  # the fixture's activation
    assert staff_api.get("/api/v1/audit", {"action": "nothing"}).status_code == 400


def test_activation_forced_retrain_and_promotion_are_recorded(active_model, staff, staff_api, model_store):
    """Activating a version (by staff, or by the system), forcing a retrain and promoting a
    candidate each leave an event; the system's own activation has no actor."""
    from reviews.services.model_versions import model_version_register

    (system,) = AuditEvent.objects.filter(action="model.activate")
    assert system.actor == "" and system.actor_id is None and system.after == {"active": active_model.id}

    other = model_version_register(version_id=model_store[1].id)
    assert staff_api.post(f"/api/v1/models/{other.id}/activate").status_code == 200
    activated = AuditEvent.objects.filter(action="model.activate").first()
    assert activated.actor == staff.username
    assert activated.before == {"active": active_model.id, "status": "candidate"} and activated.after == {"active": other.id}

    assert staff_api.post("/api/v1/training-runs").status_code == 202
    run = TrainingRun.objects.get()
    requested = AuditEvent.objects.get(action="training_run.request")
    assert (requested.object_id, requested.actor, requested.after["trigger"]) == (str(run.pk), staff.username, "manual")

    TrainingRun.objects.filter(pk=run.pk).update(status="done", model_version=active_model,
                                                 decision=TrainingRun.Decision.AWAITING)
    assert staff_api.post(f"/api/v1/training-runs/{run.pk}/promote").status_code == 200
    promoted = AuditEvent.objects.get(action="training_run.promote")
    assert promoted.before == {"decision": "awaiting"}
    assert promoted.after == {"decision": "promoted", "model_version": active_model.id}


def test_events_are_never_changed_or_deleted(active_model, staff, client):
    """Saving an event again, deleting it, or updating or deleting through a query is refused;
    the admin shows the trail and offers no way to add, change or delete."""
    event = AuditEvent.objects.get()
    event.note = "rewritten"
    with pytest.raises(AuditImmutable):
        event.save()
    with pytest.raises(AuditImmutable):
        event.delete()
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(note="rewritten")
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().note == ""

    client.force_login(staff)
    page = client.get(reverse("admin:reviews_auditevent_changelist"))
    assert page.status_code == 200 and b"model.activate" in page.content and b"the system" in page.content
    assert client.get(reverse("admin:reviews_auditevent_add")).status_code == 403
    detail = client.get(reverse("admin:reviews_auditevent_change", args=[event.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content


def test_deleting_an_account_keeps_its_events(active_model, staff, django_user_model):
    from reviews.services.feedback import feedback_approve

    feedback_approve(feedback=flag(), reviewer=staff, note="ok")
    staff_id, name = staff.pk, staff.username
    staff.delete()
    event = AuditEvent.objects.get(action="feedback.approve")
    assert (event.actor_id, event.actor) == (staff_id, name)
