"""/api/v1/: paths exactly as documented, no trailing slash."""

from django.urls import path, register_converter

from reviews import api


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
    path("predict", api.PredictApi.as_view(), name="predict"),
    path("reviews", api.ReviewListCreateApi.as_view(), name="reviews"),
    path("reviews/<dbid:pk>", api.ReviewDetailApi.as_view(), name="review"),
    path("predictions/<dbid:pk>/flag", api.PredictionFlagApi.as_view(), name="prediction-flag"),
    path("feedback", api.FeedbackListApi.as_view(), name="feedback"),
    path("feedback/<dbid:pk>/approve", api.FeedbackApproveApi.as_view(), name="feedback-approve"),
    path("feedback/<dbid:pk>/reject", api.FeedbackRejectApi.as_view(), name="feedback-reject"),
    path("models", api.ModelListApi.as_view(), name="models"),
    path("models/<versionid:pk>", api.ModelDetailApi.as_view(), name="model"),
    path("models/<versionid:pk>/activate", api.ModelActivateApi.as_view(), name="model-activate"),
    path("predictions/<dbid:pk>/explanation", api.PredictionExplanationApi.as_view(), name="prediction-explanation"),
    path("training-runs", api.TrainingRunListCreateApi.as_view(), name="training-runs"),
    path("training-runs/<dbid:pk>", api.TrainingRunDetailApi.as_view(), name="training-run"),
    path("training-runs/<dbid:pk>/promote", api.TrainingRunPromoteApi.as_view(), name="training-run-promote"),
    path("health", api.HealthApi.as_view(), name="health"),
]
