"""The worker's moderation jobs: scoring stored predictions for the "Needs a label" queue, and
scoring pending flags for triage (how likely each is right, and why).

Both run with the active version's explainer (reviews.worker.explanations.explainer_for: already
loaded in the worker, so no second copy of the model), a bounded number of texts per pass.
"""

from __future__ import annotations

import logging
import threading

from django.db.models import Exists, OuterRef, Subquery

from modeling.config import LABEL2ID
from modeling.triage import TriageModel, reasons, record_share, self_confidence
from reviews.conf import conf
from reviews.models import Feedback, Prediction, QueueScore
from reviews.selectors import feedback_source_history, model_version_active
from reviews.services.feedback import text_key

log = logging.getLogger(__name__)

_ngram_lock = threading.Lock()
_fallback_ngram: dict[str, object] = {}  # active version id -> an n-gram model fitted for triage


def _latest_predictions(limit: int, version) -> list[Prediction]:
    """Reviews' latest predictions not yet scored by `version`, newest reviews first."""
    latest = Prediction.objects.filter(review=OuterRef("review")).order_by("-created_at", "-id").values("pk")[:1]
    unscored = ~Exists(QueueScore.objects.filter(prediction__review=OuterRef("review"), model_version=version))
    return list(Prediction.objects.filter(pk=Subquery(latest)).filter(unscored)
                .select_related("review").order_by("-review__created_at", "-pk")[:limit])


def score_queue() -> int:
    """Score up to SENTIMENT_QUEUE_SCORE_BATCH stored predictions with the active version (its
    own predictions keep their stored probabilities); scores of other versions are dropped."""
    from reviews.worker.explanations import explainer_for

    version = model_version_active()
    if version is None:
        return 0
    QueueScore.objects.exclude(model_version=version).delete()
    predictions = _latest_predictions(conf.moderation.queue_score_batch, version)
    if not predictions:
        return 0
    positive = {p.pk: p.prob_positive for p in predictions if p.model_version_id == version.id}
    others = [p for p in predictions if p.pk not in positive]
    if others:
        proba = explainer_for(version, active=True).predict_proba([p.review.text for p in others])
        positive.update({p.pk: float(row[LABEL2ID["positive"]]) for p, row in zip(others, proba)})
    QueueScore.objects.bulk_create(
        [QueueScore(prediction=p, model_version=version, prob_positive=min(1.0, max(0.0, positive[p.pk])),
                    margin=abs(2 * positive[p.pk] - 1), text_hash=text_key(p.review.text)) for p in predictions],
        ignore_conflicts=True)
    return len(predictions)


def _ngram_for(version, predictor):
    """An n-gram model that never saw a pending flag's text: the active version's own (fitted on
    the training data and the corrections its run learnt, which pending flags are not), or, for a
    version without one, one fitted here on the training split and the approved corrections."""
    if predictor.ngram is not None:
        return predictor.ngram
    with _ngram_lock:
        if version.id not in _fallback_ngram:
            from modeling.ngram import NgramModel
            from reviews.data import load
            from reviews.selectors import corrections_unused

            train = load()["train"]
            extra = corrections_unused()
            texts = list(train["text"]) + [c.text for c in extra]
            labels = list(train["label"]) + [LABEL2ID[c.label] for c in extra]
            _fallback_ngram.clear()
            _fallback_ngram[version.id] = NgramModel.fit(texts, labels)
        return _fallback_ngram[version.id]


def _vote_counts(flags: list[Feedback]) -> dict[int, tuple[int, int]]:
    """Per flag: (other sources agreeing with its label, other sources disagreeing), among flags
    and labels on the same text that were not rejected."""
    hashes = {f.text_hash for f in flags if f.text_hash}
    by_text: dict[str, list[tuple]] = {}
    for pk, text_hash, label, source, reporter in (
            Feedback.objects.filter(text_hash__in=hashes).exclude(status=Feedback.Status.REJECTED)
            .values_list("pk", "text_hash", "corrected_label", "source", "reporter")):
        by_text.setdefault(text_hash, []).append((pk, label, source or reporter))
    counts = {}
    for f in flags:
        mine = f.source or f.reporter
        others = {(label, who) for pk, label, who in by_text.get(f.text_hash, ()) if pk != f.pk and who != mine}
        agree = len({who for label, who in others if label == f.corrected_label})
        counts[f.pk] = (agree, len({who for label, who in others if label != f.corrected_label}))
    return counts


def triage_model() -> TriageModel:
    """Weights fitted on the decided flags' signals (as they were while pending), or equal ones."""
    decided = (Feedback.objects.filter(kind=Feedback.Kind.FLAG, status__in=[Feedback.Status.APPROVED,
                                                                            Feedback.Status.REJECTED])
               .exclude(triage={}).values_list("triage", "status"))
    rows, right = [], []
    for triage, status in decided:
        if triage.get("signals"):
            rows.append(triage["signals"])
            right.append(status == Feedback.Status.APPROVED)
    return TriageModel.fit(rows, right)


def triage_flags() -> int:
    """Score every pending flag: the model signals once per active version (at most
    SENTIMENT_QUEUE_SCORE_BATCH new ones a pass), the source's record and the votes every pass."""
    from reviews.worker.explanations import explainer_for

    version = model_version_active()
    if version is None:
        return 0
    # Texts are read only for the flags the models have not scored yet, not every pass for all.
    pending = list(Feedback.objects.filter(kind=Feedback.Kind.FLAG, status=Feedback.Status.PENDING).order_by("pk"))
    if not pending:
        return 0
    stale = [f for f in pending if f.triage.get("version") != version.id][: conf.moderation.queue_score_batch]
    if stale:
        predictor = explainer_for(version, active=True)
        text_of = dict(Feedback.objects.filter(pk__in=[f.pk for f in stale])
                       .values_list("pk", "prediction__review__text"))
        texts = [text_of[f.pk] for f in stale]
        labels = [LABEL2ID[f.corrected_label] for f in stale]
        ngram = self_confidence(_ngram_for(version, predictor).predict_proba(texts), labels)
        served = predictor.transformer_proba(texts) if predictor.kind != "ngram" else predictor.predict_proba(texts)
        transformer = self_confidence(served, labels)
        for f, n, t in zip(stale, ngram, transformer):
            f.triage = {"version": version.id, "signals": {"ngram": float(n), "transformer": float(t)}}
    model = triage_model()
    histories = feedback_source_history(f.source for f in pending if f.source)
    votes = _vote_counts(pending)
    changed = []
    for f in pending:
        if f.triage.get("version") != version.id:
            continue  # beyond this pass's batch: the next pass scores it
        history = histories.get(f.source) or {}
        approved, rejected = history.get("approved", 0), history.get("rejected", 0)
        agree, disagree = votes.get(f.pk, (0, 0))
        signals = {**{k: f.triage["signals"][k] for k in ("ngram", "transformer")},
                   "source": record_share(approved, rejected), "votes": record_share(agree, disagree)}
        facts = {"source_approved": approved, "source_rejected": rejected, "votes_agree": agree,
                 "votes_disagree": disagree}
        triage = {"version": version.id, "signals": signals, "facts": facts, "reasons": reasons(signals, facts),
                  "calibrated": model.calibrated, "fitted_on": model.fitted_on}
        score = round(model.score(signals), 4)
        if (triage, score) != (f.triage, f.triage_score):
            f.triage, f.triage_score = triage, score
            changed.append(f)
    Feedback.objects.bulk_update(changed, ["triage", "triage_score"], batch_size=200)
    return len(changed)
