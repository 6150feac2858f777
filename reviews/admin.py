from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html

from reviews.services.feedback import feedback_approve, feedback_reject
from reviews.services.model_versions import model_version_activate
from reviews.services.training import training_run_promote, training_run_request
from reviews.web.sign_in import AdminSignInForm
from reviews.models import Feedback, ModelVersion, Prediction, Review, TrainingRun, WorkerHeartbeat

# The admin's sign-in has the same limits as the site's.
admin.site.login_form = AdminSignInForm


class ReadOnlyAdmin(admin.ModelAdmin):
    """Kept as evidence: visible to staff, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("id", "short_text", "predicted_label", "corrected_label", "model_version", "status", "created_at", "reviewed_by")
    list_filter = ("status", "corrected_label", "prediction__model_version", "created_at", "is_holdout")
    search_fields = ("prediction__review__text", "comment", "review_note")
    date_hierarchy = "created_at"
    list_select_related = ("prediction__review", "prediction__model_version", "reviewed_by")
    actions = ["approve", "reject"]
    fields = ("review_text", "prediction_summary", "explanation", "corrected_label", "comment", "status", "review_note",
              "reviewed_by", "reviewed_at", "reporter", "is_holdout", "training_run", "created_at")
    readonly_fields = ("review_text", "prediction_summary", "explanation", "corrected_label", "comment", "status", "reviewed_by",
                       "reviewed_at", "reporter", "is_holdout", "training_run", "created_at")

    def has_add_permission(self, request):
        return False

    @admin.display(description="review")
    def short_text(self, obj):
        text = obj.prediction.review.text
        return text[:80] + ("…" if len(text) > 80 else "")

    @admin.display(description="model version", ordering="prediction__model_version")
    def model_version(self, obj):
        return obj.prediction.model_version_id

    @admin.display(description="review text")
    def review_text(self, obj):
        # format_html escapes the text: markup in a review is shown, never rendered.
        return format_html('<div style="max-width:48rem;white-space:pre-wrap">{}</div>', obj.prediction.review.text)

    @admin.display(description="why the model decided")
    def explanation(self, obj):
        from django.template.loader import render_to_string

        explanation = getattr(obj.prediction, "explanation", None)
        return render_to_string(
            "reviews/_explanation_admin.html", {"explanation": explanation, "review": obj.prediction.review}
        )

    @admin.display(description="prediction")
    def prediction_summary(self, obj):
        p = obj.prediction
        return format_html("{} ({}%) by {}", p.label, round(p.confidence * 100), p.model_version_id)

    def _decide(self, request, queryset, service, verb):
        done = 0
        for feedback in queryset:
            try:
                service(feedback=feedback, reviewer=request.user)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"Feedback {feedback.pk}: {exc.messages[0]}", messages.WARNING)
        self.message_user(request, f"{verb} {done} flag(s).", messages.SUCCESS)

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm("reviews.moderate_feedback")

    @admin.action(description="Approve selected flags (the model may learn from them)", permissions=["moderate"])
    def approve(self, request, queryset):
        self._decide(request, queryset, feedback_approve, "Approved")

    @admin.action(description="Reject selected flags", permissions=["moderate"])
    def reject(self, request, queryset):
        self._decide(request, queryset, feedback_reject, "Rejected")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "profile", "base_model", "test_accuracy_display", "created_at", "activated_at", "activated_by")
    list_filter = ("status", "profile", "base_model")
    search_fields = ("id", "base_model")
    actions = ["activate"]
    readonly_fields = ("id", "base_model", "profile", "status", "status_reason", "metrics", "data", "train_config",
                       "created_at", "registered_at", "activated_at", "activated_by")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="test accuracy")
    def test_accuracy_display(self, obj):
        value = obj.test_accuracy
        return "—" if value is None else f"{value:.4f}"

    def has_manage_permission(self, request) -> bool:
        return request.user.has_perm("reviews.manage_model_versions")

    @admin.action(description="Activate the selected version (also the way to roll back)", permissions=["manage"])
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = queryset.get()
        try:
            model_version_activate(version=version, user=request.user)
        except ValidationError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)
        else:
            self.message_user(request, f"{version.id} is now active; web processes switch to it within seconds.", messages.SUCCESS)


class PredictionInline(admin.TabularInline):
    model = Prediction
    extra = 0
    can_delete = False
    fields = ("label", "confidence", "model_version", "latency_ms", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("id", "short_text", "source", "user", "created_at")
    list_filter = ("source", "created_at")
    search_fields = ("text",)
    inlines = [PredictionInline]

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:80] + ("…" if len(obj.text) > 80 else "")


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ("id", "review", "label", "confidence", "model_version", "latency_ms", "created_at")
    list_filter = ("label", "model_version")
    list_select_related = ("review", "model_version")


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "trigger", "profile", "status", "decision", "created_at", "duration_s", "model_version", "requested_by")
    list_filter = ("status", "trigger", "decision")
    readonly_fields = ("trigger", "profile", "requested_by", "status", "decision", "reasons", "metrics", "counts",
                       "correction_ids", "progress", "log", "model_version", "error", "duration_s", "claimed_by",
                       "claimed_at", "heartbeat_at", "finished_at", "attempts", "created_at")
    change_list_template = "admin/reviews/trainingrun/change_list.html"
    actions = ["promote"]

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("reviews.run_training")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run_training": self.has_run_permission(request)}
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        from django.urls import path

        return [
            path("force/", self.admin_site.admin_view(self.force_view), name="reviews_trainingrun_force"),
        ] + super().get_urls()

    def force_view(self, request):
        from django.http import HttpResponseNotAllowed
        from django.shortcuts import redirect

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_run_permission(request):
            raise PermissionDenied("Forcing a retrain needs the run-training permission.")
        run, created = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=request.user)
        if created:
            self.message_user(request, f"Training run {run.pk} queued; the worker starts it within seconds.", messages.SUCCESS)
        else:
            self.message_user(request, f"Training run {run.pk} is already {run.status}; one run at a time.", messages.WARNING)
        return redirect("admin:reviews_trainingrun_changelist")

    @admin.action(description="Promote the candidate of the selected run (it must have passed the gate)",
                  permissions=["run"])
    def promote(self, request, queryset):
        for run in queryset:
            try:
                version = training_run_promote(run=run, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"Run {run.pk}: {exc.messages[0]}", messages.ERROR)
            else:
                self.message_user(request, f"Run {run.pk}: {version.id} is now active.", messages.SUCCESS)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("worker_id", "hostname", "pid", "started_at", "last_seen", "doing")
