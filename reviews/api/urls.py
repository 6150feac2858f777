"""/api/v1/: paths exactly as documented, no trailing slash."""

from django.urls import path, register_converter

from reviews.api import audit, explanations, feedback, health, model_versions, predict, queue, reviews, training


class DatabaseIdConverter:
    """A database id: digits, at most 18 of them, so that every id fits a 64-bit column (a longer
    one is a 404, never a database overflow)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


class VersionIdConverter:
    """A model version id as the registry writes them (e.g. 20261129-120000-a1b2c3)."""

    regex = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


register_converter(DatabaseIdConverter, "dbid")
register_converter(VersionIdConverter, "versionid")

app_name = "api"
urlpatterns = [
    path("predict", predict.PredictApi.as_view(), name="predict"),
    path("reviews", reviews.ReviewListCreateApi.as_view(), name="reviews"),
    path("reviews/<dbid:pk>", reviews.ReviewDetailApi.as_view(), name="review"),
    path("predictions/<dbid:pk>/flag", feedback.PredictionFlagApi.as_view(), name="prediction-flag"),
    path("feedback", feedback.FeedbackListApi.as_view(), name="feedback"),
    path("feedback/export", feedback.FeedbackExportApi.as_view(), name="feedback-export"),
    path("feedback/<dbid:pk>/approve", feedback.FeedbackApproveApi.as_view(), name="feedback-approve"),
    path("feedback/<dbid:pk>/reject", feedback.FeedbackRejectApi.as_view(), name="feedback-reject"),
    path("models", model_versions.ModelListApi.as_view(), name="models"),
    path("models/<versionid:pk>", model_versions.ModelDetailApi.as_view(), name="model"),
    path("models/<versionid:pk>/activate", model_versions.ModelActivateApi.as_view(), name="model-activate"),
    path("predictions/<dbid:pk>/explanation", explanations.PredictionExplanationApi.as_view(), name="prediction-explanation"),
    path("training-runs", training.TrainingRunListCreateApi.as_view(), name="training-runs"),
    path("training-runs/<dbid:pk>", training.TrainingRunDetailApi.as_view(), name="training-run"),
    path("training-runs/<dbid:pk>/promote", training.TrainingRunPromoteApi.as_view(), name="training-run-promote"),
    path("queue", queue.QueueApi.as_view(), name="queue"),
    path("queue/<dbid:pk>/label", queue.QueueLabelApi.as_view(), name="queue-label"),
    path("audit", audit.AuditListApi.as_view(), name="audit"),
    path("health", health.HealthApi.as_view(), name="health"),
]
