from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelVersion(models.Model):
    """One row per registry version; the database alone says which version is active."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        REJECTED = "rejected", "Rejected"

    id = models.CharField(primary_key=True, max_length=64, help_text="The registry manifest's id.")
    base_model = models.CharField(max_length=200)
    profile = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    metrics = models.JSONField(default=dict, blank=True, help_text="Metrics per split, from the manifest.")
    data = models.JSONField(default=dict, blank=True, help_text="Data source, seed and split hashes.")
    train_config = models.JSONField(default=dict, blank=True)
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField()
    registered_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="at_most_one_active_model_version"),
            models.CheckConstraint(
                condition=Q(status__in=["candidate", "active", "retired", "rejected"]), name="model_version_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.id} ({self.status})"

    @property
    def path(self) -> Path:
        return Path(settings.SENTIMENT_MODEL_STORE) / self.id

    def metric(self, split: str, name: str = "accuracy"):
        return (self.metrics.get(split) or {}).get(name)

    @property
    def test_accuracy(self):
        return self.metric("test")


class Label(models.TextChoices):
    """The labels, in modeling.config.LABELS order."""

    NEGATIVE = "negative", "Negative"
    POSITIVE = "positive", "Positive"


LABEL_VALUES = [choice.value for choice in Label]


class Source(models.TextChoices):
    WEB = "web", "Website"
    API = "api", "API"


class Review(models.Model):
    """A text someone asked about. Who asked is a user or an anonymous session; the client IP is
    kept only as a salted hash."""

    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    client_hash = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="review_text_not_empty"),
            models.CheckConstraint(condition=Q(source__in=[s.value for s in Source]), name="review_source_valid"),
        ]

    def __str__(self):
        preview = self.text[:60] + ("…" if len(self.text) > 60 else "")
        return f"Review {self.pk}: {preview}"

    @property
    def latest_prediction(self):
        # Uses the prefetched list when there is one.
        predictions = list(self.predictions.all())
        return max(predictions, key=lambda p: (p.created_at, p.pk)) if predictions else None


class Prediction(models.Model):
    """What one model version answered for a review."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    label = models.CharField(max_length=16, choices=Label.choices)
    confidence = models.FloatField()
    prob_negative = models.FloatField()
    prob_positive = models.FloatField()
    latency_ms = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(label__in=LABEL_VALUES), name="prediction_label_valid"),
            models.CheckConstraint(condition=Q(confidence__gte=0.0, confidence__lte=1.0), name="prediction_confidence_0_1"),
            models.CheckConstraint(condition=Q(prob_negative__gte=0.0, prob_negative__lte=1.0), name="prediction_prob_negative_0_1"),
            models.CheckConstraint(condition=Q(prob_positive__gte=0.0, prob_positive__lte=1.0), name="prediction_prob_positive_0_1"),
            models.CheckConstraint(condition=Q(latency_ms__gte=0.0), name="prediction_latency_not_negative"),
        ]

    def __str__(self):
        return f"{self.label} ({self.confidence:.0%}) by {self.model_version_id}"

    @property
    def probabilities(self) -> dict[str, float]:
        return {Label.NEGATIVE.value: self.prob_negative, Label.POSITIVE.value: self.prob_positive}


class Feedback(models.Model):
    """A person's claim that a prediction is wrong, with the label they believe is right."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="feedback")
    # Copied from the prediction so the database itself can refuse a "correction" that agrees.
    predicted_label = models.CharField(max_length=16, choices=Label.choices)
    corrected_label = models.CharField(max_length=16, choices=Label.choices)
    comment = models.TextField(blank=True, max_length=2000)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback"
    )
    session_key = models.CharField(max_length=64, blank=True)
    client_hash = models.CharField(max_length=64, blank=True)
    # "user:<id>" or "session:<key>": who flagged, for the one-flag-per-person rule.
    reporter = models.CharField(max_length=80)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_feedback"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    # Filled by the retraining loop: held out as evaluation data, and the run that trained on it.
    is_holdout = models.BooleanField(default=False)
    training_run_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "feedback"
        constraints = [
            models.UniqueConstraint(fields=["prediction", "reporter"], name="one_flag_per_person_per_prediction"),
            models.CheckConstraint(condition=~Q(corrected_label=models.F("predicted_label")), name="feedback_label_differs"),
            models.CheckConstraint(condition=Q(corrected_label__in=LABEL_VALUES), name="feedback_label_valid"),
            models.CheckConstraint(condition=Q(predicted_label__in=LABEL_VALUES), name="feedback_predicted_label_valid"),
            models.CheckConstraint(condition=Q(status__in=["pending", "approved", "rejected"]), name="feedback_status_valid"),
            models.CheckConstraint(condition=~Q(reporter=""), name="feedback_reporter_not_empty"),
        ]

    def __str__(self):
        return f"Feedback {self.pk}: {self.predicted_label} → {self.corrected_label} ({self.status})"
