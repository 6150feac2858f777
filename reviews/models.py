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

    class Kind(models.TextChoices):
        """modeling.config.VERSION_KINDS: a fine-tuned transformer, or an n-gram model alone."""

        TRANSFORMER = "transformer", "Transformer"
        NGRAM = "ngram", "N-gram model"

    id = models.CharField(primary_key=True, max_length=64, help_text="The registry manifest's id.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRANSFORMER)
    base_model = models.CharField(max_length=200)
    profile = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    metrics = models.JSONField(default=dict, blank=True, help_text="Metrics per split, from the manifest.")
    data = models.JSONField(default=dict, blank=True, help_text="Data source, seed and split hashes.")
    train_config = models.JSONField(default=dict, blank=True)
    status_reason = models.TextField(blank=True)
    # Registered before versions were sealed: `manage.py seal_versions` may seal it, once. A version
    # registered later never is (an unsealed one appearing later is a forgery).
    awaiting_seal = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField()
    registered_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [("manage_model_versions", "Can activate model versions (and roll back)")]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="at_most_one_active_model_version"),
            models.CheckConstraint(
                condition=Q(status__in=["candidate", "active", "retired", "rejected"]), name="model_version_status_valid"
            ),
            models.CheckConstraint(condition=Q(kind__in=["transformer", "ngram"]), name="model_version_kind_valid"),
        ]

    def __str__(self):
        return f"{self.id} ({self.status})"

    @property
    def path(self) -> Path:
        """The version's folder on this machine: with an object store (SENTIMENT_MODEL_STORE=s3://...),
        fetched and verified into this machine's cache first when missing there."""
        from reviews.model_store import local_path

        return local_path(self.id)

    def metric(self, split: str, name: str = "accuracy"):
        return (self.metrics.get(split) or {}).get(name)

    @property
    def test_accuracy(self):
        return self.metric("test")

    @property
    def test_accuracy_interval(self) -> list[float] | None:
        """The 95% bootstrap interval of the test accuracy (versions measured before intervals: None)."""
        return ((self.metrics.get("test") or {}).get("intervals") or {}).get("accuracy")


class Label(models.TextChoices):
    """The labels, in modeling.config.LABELS order."""

    NEGATIVE = "negative", "Negative"
    POSITIVE = "positive", "Positive"


LABEL_VALUES = [choice.value for choice in Label]


class Source(models.TextChoices):
    WEB = "web", "Website"
    API = "api", "API"
    IMPORT = "import", "Imported labels"


class Review(models.Model):
    """A text someone asked about. Who asked is a user or an anonymous session; the session key
    and the client IP are kept only as salted hashes."""

    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    # reviews.identity.session_hash(key), never the key (which works as the visitor's cookie).
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

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("review-detail", args=[self.pk])

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
        # A version's latest prediction in one index step (the history's model-version filter).
        indexes = [models.Index(fields=["model_version", "created_at"], name="prediction_version_created")]

    def __str__(self):
        return f"{self.label} ({self.confidence:.0%}) by {self.model_version_id}"

    @property
    def probabilities(self) -> dict[str, float]:
        return {Label.NEGATIVE.value: self.prob_negative, Label.POSITIVE.value: self.prob_positive}


class Feedback(models.Model):
    """A person's claim that a prediction is wrong, with the label they believe is right; or a
    moderator's label of a prediction from the "Needs a label" queue, which may agree with it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class Kind(models.TextChoices):
        FLAG = "flag", "Flag"
        LABEL = "label", "Label from the queue"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FLAG, db_index=True)
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="feedback")
    # Copied from the prediction so the database itself can refuse a "correction" that agrees.
    predicted_label = models.CharField(max_length=16, choices=Label.choices)
    corrected_label = models.CharField(max_length=16, choices=Label.choices)
    comment = models.TextField(blank=True, max_length=2000)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback"
    )
    session_key = models.CharField(max_length=64, blank=True)  # its hash, as on Review
    client_hash = models.CharField(max_length=64, blank=True)
    # "user:<id>" or "session:<hash of the key>": who flagged, for the one-flag-per-person rule.
    reporter = models.CharField(max_length=80)
    # Who is speaking, for the retraining loop's caps: "user:<id>", or for an anonymous flag its
    # client ("client:<client hash>", the IPv4 address or IPv6 /64; "session:<hash>" without an
    # address). A new cookie is not a new source.
    source = models.CharField(max_length=80, db_index=True, blank=True)
    # The client's network ("net:<hash of its /24 or /48>"), capped as a whole per run.
    network = models.CharField(max_length=80, db_index=True, blank=True)
    # reviews.services.feedback.text_key: a hash of the text as the model reads it; one text, one vote.
    text_hash = models.CharField(max_length=64, db_index=True, blank=True)
    # Flagged by a moderator or a trusted user (a permission), as it was when flagged. A retrain asks
    # again (reviews.selectors): only a user trusted *then* is not capped by the anonymous rules.
    trusted = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_feedback"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    # Filled by the retraining loop: held out as evaluation data, and the run that trained on it.
    is_holdout = models.BooleanField(default=False)
    training_run = models.ForeignKey(
        "TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="corrections"
    )
    # How likely the flag is right (0-1) and why: reviews.services.triage, filled by the worker
    # while the flag is pending (empty until then).
    triage_score = models.FloatField(null=True, blank=True, db_index=True)
    triage = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "feedback"
        permissions = [
            ("moderate_feedback", "Can approve or reject flags"),
            ("trusted_reporter", "Corrections are trusted (not capped per source or network)"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["prediction", "reporter"], name="one_flag_per_person_per_prediction"),
            # A flag says the model was wrong; only a moderator's label from the queue may agree.
            models.CheckConstraint(condition=Q(kind="label") | ~Q(corrected_label=models.F("predicted_label")),
                                   name="feedback_label_differs"),
            models.CheckConstraint(condition=Q(kind__in=["flag", "label"]), name="feedback_kind_valid"),
            models.CheckConstraint(condition=Q(corrected_label__in=LABEL_VALUES), name="feedback_label_valid"),
            models.CheckConstraint(condition=Q(predicted_label__in=LABEL_VALUES), name="feedback_predicted_label_valid"),
            models.CheckConstraint(condition=Q(status__in=["pending", "approved", "rejected"]), name="feedback_status_valid"),
            models.CheckConstraint(condition=~Q(reporter=""), name="feedback_reporter_not_empty"),
        ]

    def __str__(self):
        return f"Feedback {self.pk}: {self.predicted_label} → {self.corrected_label} ({self.status})"


class ModerationDecision(models.Model):
    """One moderator's view of one flag or label: the label they believe is right. One per
    moderator and flag (a changed mind replaces it; the audit trail keeps both). Two moderators'
    views of the same text are what agreement (Cohen's kappa) is measured on, and with
    SENTIMENT_MODERATION_APPROVALS_TO_TRAIN above 1 a correction trains only once that many agree."""

    feedback = models.ForeignKey(Feedback, on_delete=models.CASCADE, related_name="decisions")
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=16, choices=Label.choices)
    # True when the moderator agreed with the correction (label == its corrected label).
    approves = models.BooleanField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["feedback", "moderator"], name="one_decision_per_moderator"),
            models.CheckConstraint(condition=Q(label__in=LABEL_VALUES), name="decision_label_valid"),
        ]

    def __str__(self):
        return f"{self.moderator_id} on feedback {self.feedback_id}: {self.label}"


class QueueScore(models.Model):
    """The active version's uncertainty about a stored prediction nobody has labelled, for the
    "Needs a label" queue; written by the worker (reviews.worker.moderation), one row per
    prediction and version, so a new active version scores the queue afresh."""

    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="queue_scores")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    prob_positive = models.FloatField()
    # |P(positive) - P(negative)|: 0 is a coin toss. With two labels, entropy orders the same way.
    margin = models.FloatField(db_index=True)
    text_hash = models.CharField(max_length=64, db_index=True)
    scored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["margin", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["prediction", "model_version"], name="one_queue_score_per_version"),
            models.CheckConstraint(condition=Q(prob_positive__gte=0.0, prob_positive__lte=1.0), name="queue_prob_0_1"),
        ]

    def __str__(self):
        return f"prediction {self.prediction_id}: margin {self.margin:.3f} ({self.model_version_id})"


class QueueSkip(models.Model):
    """A moderator skipped a queue item: it leaves their queue, not anyone else's."""

    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="+")
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prediction", "moderator"], name="one_skip_per_moderator")]


class WorkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RequestedWork(models.Model):
    """Work a web process asks for and the worker does (a training run, an explanation...).

    Web processes only insert rows; a worker claims one with a conditional UPDATE (see
    reviews.work), keeps `heartbeat_at` fresh while it works, and records the outcome. A row
    whose claimant stopped beating is requeued; one that keeps failing ends as failed.
    """

    status = models.CharField(max_length=16, choices=WorkStatus.choices, default=WorkStatus.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Not to be claimed before this time.")
    claimed_by = models.CharField(max_length=128, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True

    @property
    def is_open(self) -> bool:
        return self.status in (WorkStatus.PENDING, WorkStatus.RUNNING)


class Device(models.TextChoices):
    """Where a training run may run: any worker that takes training, or one on this device."""

    ANY = "", "Any worker"
    CPU = "cpu", "A CPU worker"
    CUDA = "cuda", "A CUDA (GPU) worker"


class TrainingRun(RequestedWork):
    """A request to train a model: the first model of an installation, or a retrain."""

    class Trigger(models.TextChoices):
        FIRST_RUN = "first_run", "First model of the installation"
        MANUAL = "manual", "Requested by staff"
        SCHEDULE = "schedule", "Schedule"
        TUNE = "tune", "Tuning study requested by staff"

    class Decision(models.TextChoices):
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected by the gate"
        AWAITING = "awaiting", "Passed the gate; waiting for staff to promote"
        SKIPPED = "skipped", "Nothing to learn from"

    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    profile = models.CharField(max_length=32, default="quick")
    # A tuning study's request (trigger "tune"): trials, budget_minutes, study.
    options = models.JSONField(default=dict, blank=True, help_text="A tuning study's trials, budget and name.")
    # Claimed only by a worker that trains on this device (SENTIMENT_WORKER_DEVICE); "" by any.
    device = models.CharField(max_length=8, choices=Device.choices, blank=True, default=Device.ANY)
    # Every training run shares one slot: at most one is pending or running at any time.
    slot = models.CharField(max_length=16, default="training", editable=False)
    counts = models.JSONField(default=dict, blank=True, help_text="Replay reviews, corrections used, holdouts...")
    correction_ids = models.JSONField(default=list, blank=True, help_text="Approved corrections this run trained on.")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    reasons = models.JSONField(default=list, blank=True, help_text="The gate's checks and their outcomes.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Candidate and active metrics the gate compared.")
    duration_s = models.FloatField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    progress = models.JSONField(default=dict, blank=True, help_text="Phase, epoch, step and loss while running.")
    log = models.TextField(blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_training", "Can force a retrain and promote a candidate")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in WorkStatus]), name="training_run_status_valid"),
            models.CheckConstraint(condition=Q(device__in=[d.value for d in Device]), name="training_run_device_valid"),
            models.UniqueConstraint(
                fields=["slot"], condition=Q(status__in=["pending", "running"]), name="one_open_training_run"
            ),
        ]

    def __str__(self):
        return f"Training run {self.pk} ({self.trigger}, {self.status})"


class Lease(models.Model):
    """A named lock with an expiry, held by one worker at a time across machines."""

    name = models.CharField(primary_key=True, max_length=64)
    holder = models.CharField(max_length=128)
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} held by {self.holder} until {self.expires_at:%H:%M:%S}"


class WorkerHeartbeat(models.Model):
    """Each worker process writes its row every few seconds; the site shows who is alive."""

    worker_id = models.CharField(primary_key=True, max_length=128)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    doing = models.CharField(max_length=255, blank=True)
    # What it takes (SENTIMENT_WORKER_QUEUES, comma-separated) and the device it trains on.
    queues = models.CharField(max_length=100, blank=True)
    device = models.CharField(max_length=8, blank=True)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self):
        return f"{self.worker_id} (last seen {self.last_seen:%H:%M:%S})"


class Tally(models.Model):
    """A count the dashboard shows, taken by the worker over the rows up to id `up_to`
    (reviews.tallies): the dashboard adds the rows past it, so its figures stay exact while it
    reads a few recent rows instead of a million. `key` is a model version, or "" for the total.
    `queue` is the size of "Needs a label" as the worker's last scoring pass found it."""

    class Counter(models.TextChoices):
        REVIEWS = "reviews"
        PREDICTIONS = "predictions"
        FLAGS = "flags"
        QUEUE = "queue"

    counter = models.CharField(max_length=16, choices=Counter.choices)
    key = models.CharField(max_length=64, blank=True)
    value = models.BigIntegerField()
    up_to = models.BigIntegerField()
    counted_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["counter", "key"], name="one_tally_per_counter_and_key")]

    def __str__(self):
        return f"{self.counter} {self.key or 'total'}: {self.value} up to #{self.up_to}"


class Explanation(RequestedWork):
    """A LIME explanation of one prediction by the version that made it, computed by the worker
    and kept: asked again, the same one is returned."""

    prediction = models.OneToOneField(Prediction, on_delete=models.CASCADE, related_name="explanation")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="explanations")
    params = models.JSONField(default=dict, blank=True, help_text="num_samples, num_features, max_words, seed...")
    result = models.JSONField(null=True, blank=True)
    # Who asked ("user:<id>" or "anon:<client hash>"): at most SENTIMENT_EXPLAIN_MAX_PENDING open each.
    requester = models.CharField(max_length=80, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in WorkStatus]), name="explanation_status_valid"),
        ]

    def __str__(self):
        return f"Explanation of prediction {self.prediction_id} ({self.status})"


class RateCounter(models.Model):
    """One rate-limit window's count for one client and scope (reviews.ratelimit), when the
    counters live in the database. A row is never culled while its window is live; expired ones
    are deleted by the worker's daily maintenance."""

    key = models.CharField(primary_key=True, max_length=200)
    count = models.IntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.key}: {self.count}"


class FeedbackSource(models.Model):
    """A source's record (Feedback.source): what it flagged and what staff decided. Kept when
    retention deletes the flags themselves, so a source's history outlives its reviews."""

    source = models.CharField(primary_key=True, max_length=80)
    flags = models.PositiveIntegerField(default=0)
    approved = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self):
        return f"{self.source}: {self.flags} flag(s), {self.approved} approved, {self.rejected} rejected"

    def as_dict(self) -> dict:
        return {"flags": self.flags, "approved": self.approved, "rejected": self.rejected,
                "pending": max(0, self.flags - self.approved - self.rejected)}


class AuditImmutable(Exception):
    """An audit event is written once and never changed or deleted."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditImmutable("audit events are never changed")

    def delete(self):
        raise AuditImmutable("audit events are never deleted")


class AuditEvent(models.Model):
    """One thing staff (or the system, with no actor) did, as it was when it was done: append-only,
    so a decision changed later keeps both. The actor is kept by id and name, not as a foreign
    key, so deleting an account changes no event."""

    class Action(models.TextChoices):
        FEEDBACK_APPROVE = "feedback.approve", "Flag approved"
        FEEDBACK_REJECT = "feedback.reject", "Flag rejected"
        MODEL_ACTIVATE = "model.activate", "Model version activated"
        RUN_REQUEST = "training_run.request", "Retrain forced"
        RUN_PROMOTE = "training_run.promote", "Candidate promoted"
        QUEUE_LABEL = "queue.label", "Labelled from the queue"

    at = models.DateTimeField(db_index=True)
    actor_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The user's id; empty: the system.")
    actor = models.CharField(max_length=150, blank=True, help_text="The username then; empty: the system.")
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64, db_index=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]
        constraints = [
            models.CheckConstraint(condition=Q(action__in=["feedback.approve", "feedback.reject", "model.activate",
                                                           "training_run.request", "training_run.promote", "queue.label"]),
                                   name="audit_action_valid"),
        ]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditImmutable("audit events are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutable("audit events are never deleted")

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor or 'system'}: {self.action} {self.object_type} {self.object_id}"
