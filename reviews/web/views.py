"""HTML pages. Each view validates input, calls one service or selector, and renders."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from reviews import monitoring, ratelimit, selectors
from reviews.moderation import MEASURES, label_queue, label_queue_size, moderator_agreement
from reviews.tallies import queue_size_recent
from reviews.models import ModelVersion, WorkStatus
from reviews.pagination import CappedPaginator
from reviews.services.explanations import ExplanationQueueFull, explanation_request
from reviews.services.feedback import feedback_flag
from reviews.services.label_queue import SKIP, queue_label, queue_skip
from reviews.services.reviews import NoActiveModel, review_submit
from reviews.web import charts
from reviews.web.forms import FlagForm, HistoryFilterForm, ReviewForm
from reviews.identity import visitor

PAGE_SIZE = 20


def _rate_limited(request, scope: str, who) -> bool:
    decision = ratelimit.hit(scope, who.rate_key, authenticated=who.authenticated)
    if not decision.allowed:
        messages.error(request, f"Too many requests; please try again in {decision.retry_after} seconds.")
    return not decision.allowed


@require_http_methods(["GET", "POST"])
def home(request):
    active = selectors.model_version_active()
    form = ReviewForm(request.POST or None)
    status = 200
    if request.method == "POST":
        who = visitor(request, create_session=True)
        if active is None:
            messages.info(request, "The first model is still being prepared; your review was not classified yet.")
            status = 503
        elif form.is_valid() and not _rate_limited(request, "predict", who):
            try:
                prediction = review_submit(text=form.cleaned_data["text"], **who.as_kwargs())
            except NoActiveModel:
                messages.info(request, "The first model is still being prepared.")
                status = 503
            else:
                return redirect("review-detail", pk=prediction.review_id)
        elif form.is_valid():
            status = 429
        else:
            status = 400
    context = {"form": form, "active": active, "limit": ReviewForm.limit()}
    if active is None:
        context["first_run"] = selectors.first_model_run()
        context["workers"] = selectors.workers_alive()
    elif active.kind == ModelVersion.Kind.NGRAM:
        # The instant n-gram model answers while the first transformer trains (or after it failed).
        run = selectors.first_model_run()
        context["first_run"] = run if run is not None and run.status != WorkStatus.DONE else None
    return render(request, "reviews/home.html", context, status=status)


def review_detail(request, pk: int):
    who = visitor(request)
    review = selectors.review_get(pk=pk, **who.scope())
    if review is None:
        raise Http404("No such review.")
    latest = review.latest_prediction
    own_flag = selectors.feedback_for(prediction=latest, **who.scope()) if latest else None
    explanation = selectors.explanation_for(prediction=latest) if latest else None
    return render(
        request,
        "reviews/review_detail.html",
        {"review": review, "latest": latest, "own_flag": own_flag, "flag_form": FlagForm(),
         "predictions": review.predictions.all(), "explanation": explanation},
    )


@require_POST
def review_explain(request, pk: int):
    """The "why?" button: ask the worker for an explanation of the latest prediction."""
    who = visitor(request, create_session=True)
    review = _predicted_review_or_404(pk, who)
    if not _rate_limited(request, "explain", who):
        try:
            explanation_request(prediction=review.latest_prediction, requester=who.rate_key)
        except ExplanationQueueFull as exc:
            ratelimit.undo("explain", who.rate_key, authenticated=who.authenticated)  # refused: no budget used
            messages.info(request, str(exc))
    return redirect(f"{review.get_absolute_url()}#explanation")


def review_explanation_status(request, pk: int):
    """What the review page polls while its explanation is being computed."""
    who = visitor(request)
    review = _predicted_review_or_404(pk, who)
    explanation = selectors.explanation_for(prediction=review.latest_prediction)
    return JsonResponse({"status": explanation.status if explanation else None})


@require_POST
def review_flag(request, pk: int):
    who = visitor(request, create_session=True)
    review = _predicted_review_or_404(pk, who)
    latest = review.latest_prediction
    form = FlagForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("review-detail", pk=pk)
    if _rate_limited(request, "flag", who):
        return redirect("review-detail", pk=pk)
    try:
        feedback, created = feedback_flag(
            prediction=latest, label=form.cleaned_data["label"], comment=form.cleaned_data["comment"], **who.as_kwargs()
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        if created:
            messages.success(request, "Thank you: your correction was sent to the reviewers.")
        else:
            messages.info(request, f"You already flagged this prediction (status: {feedback.get_status_display().lower()}).")
    return redirect("review-detail", pk=pk)


def history(request):
    who = visitor(request)
    filters = HistoryFilterForm(request.GET or None)
    reviews = selectors.review_list(**who.scope(), **filters.filters())
    page = CappedPaginator(reviews, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reviews/history.html", {"page": page, "filters": filters, "query": query.urlencode()})


@staff_member_required
def dashboard(request):
    stats = selectors.dashboard_stats()
    stats["workers"] = selectors.workers_alive()
    stats["runs"] = list(selectors.training_run_list()[:5])
    stats["explanations"] = selectors.explanation_queue()
    stats["queue_size"] = queue_size_recent()
    watch = monitoring.monitoring_stats()
    return render(request, "reviews/dashboard.html", {
        "stats": stats, "chart": charts.versions_chart(stats["versions"]), "agreement": moderator_agreement(),
        "watch": watch, "watch_charts": charts.monitoring_charts(watch),
    })


QUEUE_PAGE = 20


def _queue_measure(request) -> str:
    measure = request.GET.get("measure") or request.POST.get("measure") or "margin"
    return measure if measure in MEASURES else "margin"


@staff_member_required
@permission_required("reviews.moderate_feedback", raise_exception=True)
def label_queue_page(request):
    """ "Needs a label": the most uncertain stored predictions, labelled with one key each."""
    measure = _queue_measure(request)
    items = label_queue(moderator=request.user, measure=measure, limit=QUEUE_PAGE)
    return render(request, "reviews/queue.html", {
        "items": items, "measure": measure, "measures": MEASURES, "size": label_queue_size(moderator=request.user),
        "active": selectors.model_version_active(),
    })


@require_POST
@staff_member_required
@permission_required("reviews.moderate_feedback", raise_exception=True)
def label_queue_label(request, pk: int):
    prediction = selectors.prediction_get(pk=pk, user=request.user)
    if prediction is None:
        raise Http404("No such prediction.")
    label = request.POST.get("label", "")
    try:
        if label == SKIP:
            queue_skip(prediction=prediction, moderator=request.user)
            messages.info(request, f"Skipped #{pk}.")
        else:
            feedback, created = queue_label(prediction=prediction, label=label, moderator=request.user)
            if created:
                messages.success(request, f"Labelled #{pk} {feedback.corrected_label} ({feedback.get_status_display().lower()}).")
            else:
                messages.info(request, f"#{pk} was already labelled {feedback.corrected_label}.")
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect(f"{reverse('label-queue')}?measure={_queue_measure(request)}")


def _predicted_review_or_404(pk: int, who):
    """A review the visitor may see that has a prediction (404 otherwise)."""
    review = selectors.review_get(pk=pk, **who.scope())
    if review is None or review.latest_prediction is None:
        raise Http404("No such review.")
    return review
