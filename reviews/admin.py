from collections import Counter

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from reviews.conf import conf
from reviews.moderation import history_line, history_text, moderation_facts
from reviews.selectors import feedback_duplicates
from reviews.services.feedback import feedback_approve, feedback_reject
from reviews.services.model_versions import model_version_activate
from reviews.services.training import training_run_promote, training_run_request
from reviews.web.sign_in import AdminSignInForm
from reviews.models import AuditEvent, Feedback, Label, ModelVersion, Prediction, Review, TrainingRun, WorkerHeartbeat
from reviews.text_display import invisible_summary, model_reads, reveal

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


class _PageFacts:
    """The moderation facts of one changelist page, computed for all its rows on first use."""

    def __init__(self, rows):
        self.rows = rows
        self._facts = None

    def get(self, obj):
        if self._facts is None:
            self._facts = moderation_facts(self.rows)
        return self._facts[obj.pk]


def _short_source(source: str) -> str:
    kind, _, rest = source.partition(":")
    return source if len(rest) <= 12 else f"{kind}:{rest[:10]}…"


class TriageFilter(admin.SimpleListFilter):
    """Flags by how likely they are right (reviews.worker.moderation.triage_flags)."""

    title = "triage"
    parameter_name = "triage"
    RANGES = {"likely_right": ("likely right (0.7 or more)", {"triage_score__gte": 0.7}),
              "unsure": ("unsure (0.3 to 0.7)", {"triage_score__gte": 0.3, "triage_score__lt": 0.7}),
              "likely_wrong": ("likely wrong (under 0.3)", {"triage_score__lt": 0.3}),
              "unscored": ("not scored yet", {"triage_score__isnull": True})}

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.RANGES.items()]

    def queryset(self, request, queryset):
        if self.value() in self.RANGES:
            return queryset.filter(**self.RANGES[self.value()][1])
        return queryset


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("id", "model_text", "predicted_label", "corrected_label", "triage_display", "source_record",
                    "duplicates", "model_version", "kind", "status", "created_at", "reviewed_by")
    list_filter = ("status", TriageFilter, "kind", "corrected_label", "prediction__model_version", "created_at",
                   "is_holdout", "trusted")
    search_fields = ("prediction__review__text", "comment", "review_note", "source")
    date_hierarchy = "created_at"
    list_select_related = ("prediction__review", "prediction__model_version", "reviewed_by")
    actions = ["approve", "reject"]
    fields = ("texts", "prediction_summary", "corrected_label", "kind", "triage_reasons", "comment_display",
              "source_display", "trusted", "network", "duplicates_display", "decisions_display", "explanation",
              "status", "review_note", "reviewed_by", "reviewed_at", "reporter", "is_holdout", "training_run",
              "created_at")
    readonly_fields = ("texts", "prediction_summary", "corrected_label", "kind", "triage_reasons", "comment_display",
                       "source_display", "trusted", "network", "duplicates_display", "decisions_display",
                       "explanation", "status", "reviewed_by", "reviewed_at", "reporter", "is_holdout",
                       "training_run", "created_at")
    change_list_template = "admin/reviews/feedback/change_list.html"
    change_form_template = "admin/reviews/feedback/change_form.html"
    # Characters of the model's text shown in the list (the detail page shows all of it).
    LIST_CHARS = 300
    # Sources listed by name on the bulk approval's confirmation page (the rest are counted).
    CONFIRM_SOURCES_LISTED = 50

    def has_add_permission(self, request):
        return False

    # --- What the list shows, without a query per row --------------------------------------

    def get_changelist_instance(self, request):
        cl = super().get_changelist_instance(request)
        page = _PageFacts(cl.result_list)
        for obj in cl.result_list:  # evaluates the page once; the template iterates the same rows
            obj._page_facts = page
        return cl

    def _facts(self, obj):
        page = getattr(obj, "_page_facts", None)
        if page is not None:
            return page.get(obj)
        if not hasattr(obj, "_detail_facts"):
            obj._detail_facts = moderation_facts([obj])[obj.pk]
        return obj._detail_facts

    @admin.display(description="text as the model reads it")
    def model_text(self, obj):
        text = model_reads(obj.prediction.review.text)
        shown = text[: self.LIST_CHARS]
        more = "…" if len(text) > len(shown) else ""
        summary = invisible_summary(text)
        badge = format_html(' <span class="reveal-badge" title="{}">⚠ {}</span>', summary,
                            summary.partition(":")[0]) if summary else ""
        return format_html('<bdi class="revealed">{}{}</bdi>{}', reveal(shown), more, badge)

    @admin.display(description="source")
    def source_record(self, obj):
        facts = self._facts(obj)
        line = history_line(_short_source(obj.source), facts.history, trusted=obj.trusted)
        return format_html('<span title="{}">{}</span>', obj.source, line)

    @admin.display(description="same text")
    def duplicates(self, obj):
        facts = self._facts(obj)
        conflict = format_html(' <span class="conflict" title="{}">conflict</span>',
                               "Corrected to both labels by flags that were not rejected") if facts.conflict else ""
        count = facts.duplicate_count
        votes = ", ".join(f"{n} {label}" for label, n in sorted(facts.votes.items())) if count else ""
        return format_html('<span title="other flags on the same text">{}</span>{}{}', count or "—",
                           format_html("<br><small>votes: {}</small>", votes) if votes else "", conflict)

    @admin.display(description="triage", ordering="triage_score")
    def triage_display(self, obj):
        if obj.triage_score is None:
            return "—"
        reasons = "; ".join(obj.triage.get("reasons", []))
        return format_html('<span title="{}">{}</span>', reasons, f"{obj.triage_score:.2f}")

    @admin.display(description="triage: how likely the flag is right")
    def triage_reasons(self, obj):
        if obj.triage_score is None:
            return "not scored yet (the worker scores pending flags every 30 seconds)"
        note = "" if obj.triage.get("calibrated") else " (equal weights: fewer decided flags than needed to fit them)"
        return format_html("<strong>{}</strong>{}<ul>{}</ul>", f"{obj.triage_score:.2f}", note,
                           format_html_join("", "<li>{}</li>", ((r,) for r in obj.triage.get("reasons", []))))

    @admin.display(description="moderators' decisions")
    def decisions_display(self, obj):
        rows = list(obj.decisions.select_related("moderator"))
        if not rows:
            return "none yet"
        return format_html_join(", ", "{} says {} ({})",
                                ((d.moderator.get_username(), d.label, d.at.strftime("%Y-%m-%d %H:%M")) for d in rows))

    @admin.display(description="model version", ordering="prediction__model_version")
    def model_version(self, obj):
        return obj.prediction.model_version_id

    # --- The detail page ---------------------------------------------------------------------

    @admin.display(description="review text")
    def texts(self, obj):
        raw = obj.prediction.review.text
        model = model_reads(raw)
        return render_to_string("admin/reviews/feedback/_texts.html", {
            "model_text": reveal(model), "model_summary": invisible_summary(model),
            "raw_text": reveal(raw), "raw_summary": invisible_summary(raw), "same": raw == model,
        })

    @admin.display(description="comment")
    def comment_display(self, obj):
        if not obj.comment:
            return "—"
        summary = invisible_summary(obj.comment)
        return format_html('<bdi class="revealed">{}</bdi>{}', reveal(obj.comment),
                           format_html(' <span class="reveal-badge">⚠ {}</span>', summary) if summary else "")

    @admin.display(description="source and its history")
    def source_display(self, obj):
        facts = self._facts(obj)
        if not obj.source:
            return "no source recorded"
        return format_html("<code>{}</code><br>{}", obj.source, history_text(facts.history, trusted=obj.trusted))

    @admin.display(description="other flags on the same text")
    def duplicates_display(self, obj):
        facts = self._facts(obj)
        others = [{"flag": other, "url": reverse("admin:reviews_feedback_change", args=[other.pk])}
                  for other in feedback_duplicates(obj)]
        return render_to_string("admin/reviews/feedback/_duplicates.html", {
            "others": others, "count": facts.duplicate_count, "conflict": facts.conflict,
            "has_hash": bool(obj.text_hash)})

    @admin.display(description="why the model decided")
    def explanation(self, obj):
        explanation = getattr(obj.prediction, "explanation", None)
        return render_to_string(
            "reviews/_explanation_admin.html", {"explanation": explanation, "review": obj.prediction.review}
        )

    @admin.display(description="prediction")
    def prediction_summary(self, obj):
        p = obj.prediction
        return format_html("{} ({}%) by {}", p.label, round(p.confidence * 100), p.model_version_id)

    # --- Decisions ---------------------------------------------------------------------------

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
        # More than SENTIMENT_MODERATION_CONFIRM_OVER at once: first a page that says what they are.
        if request.POST.get("confirm") != "yes" and queryset.count() > conf.moderation.confirm_over:
            return self.approve_confirmation(request, queryset)
        self._decide(request, queryset, feedback_approve, "Approved")

    @admin.action(description="Reject selected flags", permissions=["moderate"])
    def reject(self, request, queryset):
        self._decide(request, queryset, feedback_reject, "Rejected")

    def approve_confirmation(self, request, queryset):
        """Like Django's delete confirmation: what the selection holds, and a button that posts
        the same action again with confirm=yes."""
        flags = list(queryset.select_related("prediction__review").order_by("pk"))
        facts = moderation_facts(flags)
        texts = {f.pk: model_reads(f.prediction.review.text) for f in flags}
        by_source = Counter(f.source for f in flags)
        histories = {f.source: facts[f.pk].history for f in flags}
        trusted = {f.source for f in flags if f.trusted}
        sources = [{"source": source or "—", "count": n,
                    "history": history_text(histories[source], trusted=source in trusted) if source else ""}
                   for source, n in by_source.most_common(self.CONFIRM_SOURCES_LISTED)]
        labels = dict(Label.choices)
        by_label = [{"label": labels.get(label, label), "count": n}
                    for label, n in sorted(Counter(f.corrected_label for f in flags).items())]
        rows = [{"flag": f, "text": reveal(texts[f.pk][:120]), "more": len(texts[f.pk]) > 120,
                 "invisible": invisible_summary(texts[f.pk]), "conflict": facts[f.pk].conflict} for f in flags]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Approve {len(flags)} flags?",
            "opts": self.model._meta,
            "flags": flags,
            "rows": rows,
            "count": len(flags),
            "threshold": conf.moderation.confirm_over,
            "by_source": sources,
            "sources_total": len(by_source),
            "sources_unlisted": max(0, len(by_source) - self.CONFIRM_SOURCES_LISTED),
            "by_label": by_label,
            "conflicts": sum(1 for f in flags if facts[f.pk].conflict),
            "invisible": sum(1 for f in flags if invisible_summary(texts[f.pk])),
            "decided": sum(1 for f in flags if f.status != Feedback.Status.PENDING),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:reviews_feedback_changelist") + (
                f"?{request.GET.urlencode()}" if request.GET else ""),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/reviews/feedback/approve_confirmation.html", context)


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
    list_display = ("id", "trigger", "profile", "device", "status", "decision", "created_at", "duration_s", "model_version",
                    "requested_by")
    list_filter = ("status", "trigger", "decision", "device")
    readonly_fields = ("trigger", "profile", "device", "requested_by", "status", "decision", "reasons", "metrics", "counts",
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
    list_display = ("worker_id", "hostname", "pid", "queues", "device", "started_at", "last_seen", "doing")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail: every flag decision, activation, forced retrain and promotion, as it was."""

    list_display = ("at", "who", "action", "object_type", "object_id", "change", "note")
    list_filter = ("action", "object_type")
    search_fields = ("object_id", "actor", "note")
    date_hierarchy = "at"

    @admin.display(description="by")
    def who(self, obj):
        return obj.actor or "the system"

    @admin.display(description="before → after")
    def change(self, obj):
        def text(values):
            return ", ".join(f"{k}: {v}" for k, v in values.items()) or "–"

        return f"{text(obj.before)} → {text(obj.after)}"
