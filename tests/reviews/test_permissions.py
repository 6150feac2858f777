"""Staff powers follow Django permissions (issue 18, reproduction 5): moderating flags, managing
model versions and running training each need their permission, in the API and in every admin
action; two groups hand them out; superusers have them all."""

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from reviews.models import Feedback, ModelVersion, TrainingRun
from reviews.services.feedback import feedback_flag
from reviews.services.reviews import review_submit
from tests.reviews.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def bare_staff(django_user_model):
    """A staff user with no permission at all (the admin index refuses them)."""
    return django_user_model.objects.create_user("bare", password="pw-bare-12345", is_staff=True)


@pytest.fixture
def flag(active_model, member):
    prediction = review_submit(text="a film", user=member)
    other = "negative" if prediction.label == "positive" else "positive"
    return feedback_flag(prediction=prediction, label=other, user=member)[0]


def grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="reviews", codename__in=codenames))
    return type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


def test_staff_without_permission_cannot_decide_flags_or_train_through_the_api(bare_staff, flag, active_model):
    """A bare staff user gets 403 from every staff endpoint (before: approved a flag, forced a retrain)."""
    api = token_client(bare_staff)
    assert api.post(f"/api/v1/feedback/{flag.pk}/approve", {}, format="json").status_code == 403
    assert api.get("/api/v1/feedback").status_code == 403
    assert api.post("/api/v1/training-runs").status_code == 403
    assert api.post(f"/api/v1/models/{active_model.id}/activate").status_code == 403
    assert Feedback.objects.get(pk=flag.pk).status == Feedback.Status.PENDING
    assert not TrainingRun.objects.exists()


def test_a_moderator_decides_flags_and_nothing_else(bare_staff, flag, active_model):
    """The Moderators group: flags yes; model versions and training no."""
    bare_staff.groups.add(Group.objects.get(name="Moderators"))
    api = token_client(bare_staff)
    assert api.get("/api/v1/feedback").status_code == 200
    assert api.post(f"/api/v1/feedback/{flag.pk}/approve", {}, format="json").status_code == 200
    assert api.post("/api/v1/training-runs").status_code == 403
    assert api.post(f"/api/v1/models/{active_model.id}/activate").status_code == 403


def test_a_model_manager_trains_and_activates_but_does_not_moderate(bare_staff, flag, active_model):
    """The Model managers group: versions and training yes; flags no."""
    bare_staff.groups.add(Group.objects.get(name="Model managers"))
    api = token_client(bare_staff)
    assert api.get("/api/v1/models").status_code == 200
    assert api.post(f"/api/v1/models/{active_model.id}/activate").status_code == 200
    assert api.post("/api/v1/training-runs").status_code == 202
    assert api.post(f"/api/v1/feedback/{flag.pk}/approve", {}, format="json").status_code == 403


def test_view_permission_alone_cannot_bulk_approve_in_the_admin(client, bare_staff, flag):
    """With only the view permission on flags the admin lists them but its approve action is
    refused (before: the bulk approve worked)."""
    grant(bare_staff, "view_feedback")
    client.force_login(bare_staff)
    assert client.get("/admin/reviews/feedback/").status_code == 200
    client.post("/admin/reviews/feedback/", {"action": "approve", "_selected_action": [flag.pk]})
    assert Feedback.objects.get(pk=flag.pk).status == Feedback.Status.PENDING


def test_the_admin_force_retrain_needs_the_training_permission(client, bare_staff, active_model):
    """Staff without run_training cannot force a retrain from the admin or the dashboard."""
    grant(bare_staff, "view_trainingrun")
    client.force_login(bare_staff)
    assert client.post("/admin/reviews/trainingrun/force/").status_code == 403
    assert not TrainingRun.objects.exists()
    client.force_login(grant(bare_staff, "run_training"))
    assert client.post("/admin/reviews/trainingrun/force/").status_code == 302
    assert TrainingRun.objects.count() == 1


def test_the_admin_activate_action_needs_the_model_permission(client, bare_staff, model_store, active_model):
    """Activating a version in the admin needs manage_model_versions."""
    from reviews.services.model_versions import model_version_register

    other = model_version_register(version_id=model_store[1].id)
    client.force_login(grant(bare_staff, "view_modelversion"))
    client.post("/admin/reviews/modelversion/", {"action": "activate", "_selected_action": [other.pk]})
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == active_model.pk
    client.force_login(grant(bare_staff, "manage_model_versions"))
    client.post("/admin/reviews/modelversion/", {"action": "activate", "_selected_action": [other.pk]})
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == other.pk


def test_superusers_have_every_permission(staff, flag):
    """A superuser (the conftest's staff) needs no group."""
    assert token_client(staff).post(f"/api/v1/feedback/{flag.pk}/approve", {}, format="json").status_code == 200


def test_anonymous_callers_still_get_401(flag):
    """Without credentials a staff endpoint says 401 (with WWW-Authenticate), not 403."""
    response = APIClient().get("/api/v1/feedback")
    assert response.status_code == 401 and "WWW-Authenticate" in response
