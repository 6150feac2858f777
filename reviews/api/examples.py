"""What the OpenAPI schema says beyond the serializers: the error responses each endpoint can give
and the examples shown at /api/docs/. Kept apart so that the resource modules read as views."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from reviews.api.errors import error_body

VERSION = "20261129-120000-a1b2c3"
OLDER_VERSION = "20261101-090000-d4e5f6"
NOW = "2026-11-29T12:00:00.000000Z"
EARLIER = "2026-11-29T11:58:30.000000Z"


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: invalid, text_too_long, not_found, throttled, ...")
    message = serializers.CharField(help_text="For people: the first problem found.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Every invalid field with its messages; items of a list as "texts.3".',
    )

    class Meta:
        ref_name = "ErrorDetail"


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"


ERRORS = {
    400: ("Invalid input", "invalid", "text: This field may not be null.", {"text": ["This field may not be null."]}),
    401: ("Not signed in", "not_authenticated", "Authentication credentials were not provided.", {}),
    403: ("Staff only", "permission_denied", "You do not have permission to perform this action.", {}),
    404: ("Unknown id", "not_found", "Not found.", {}),
    413: (
        "Text or body too long",
        "text_too_long",
        "texts.0: The review is 20,001 characters long; the limit is 20,000.",
        {"texts.0": ["The review is 20,001 characters long; the limit is 20,000."]},
    ),
    415: ("Not JSON", "unsupported_media_type", 'Unsupported media type "text/plain" in request.', {}),
    429: ("Too many requests", "throttled", "Request was throttled. Expected available in 42 seconds.", {}),
    503: ("No model yet", "no_active_model", "The first model is being prepared; try again in a few minutes.", {}),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error responses, each with an example of the one error shape."""
    responses = {}
    for code in codes:
        summary, error_code, message, fields = ERRORS[code]
        example = OpenApiExample(
            summary, value=error_body(error_code, message, fields), response_only=True, status_codes=[str(code)]
        )
        responses[code] = OpenApiResponse(ErrorSerializer, description=summary, examples=[example])
    return responses


# Every endpoint can answer these: a bad token is a 401 even where no sign-in is needed, and a
# signed-in session that forgets the CSRF token gets a 403.
ANY = (400, 401, 403)
WRITE = (400, 401, 403, 413, 415)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429, 503],
    description="Seconds to wait before trying again.",
)


def response_example(name: str, value, *, status: int = 200, description: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)], description=description)


def request_example(name: str, value, *, description: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True, description=description)


PROBS_POS = {"negative": 0.0312, "positive": 0.9688}
PROBS_NEG = {"negative": 0.8841, "positive": 0.1159}


def _result(label, probs, *, review=None, prediction=None):
    return {
        "label": label,
        "confidence": max(probs.values()),
        "probabilities": probs,
        "model_version": VERSION,
        "review_id": review,
        "prediction_id": prediction,
    }


PREDICT_EXAMPLES = [
    request_example("One text", {"text": "A wonderful, moving film with a superb cast."}),
    request_example(
        "A batch", {"texts": ["A wonderful, moving film.", "Two hours I will never get back."]},
        description="Up to SENTIMENT_API_MAX_BATCH texts (64 by default); each counts against the rate limit.",
    ),
    request_example(
        "Classify and store", {"texts": ["A wonderful, moving film."], "store": True},
        description="Stored reviews appear in GET /api/v1/reviews and can be flagged.",
    ),
    response_example(
        "One result", {"model_version": VERSION, "stored": False, "results": [_result("positive", PROBS_POS)]}
    ),
    response_example(
        "Batch results",
        {"model_version": VERSION, "stored": False,
         "results": [_result("positive", PROBS_POS), _result("negative", PROBS_NEG)]},
    ),
    response_example(
        "Stored",
        {"model_version": VERSION, "stored": True,
         "results": [_result("positive", PROBS_POS, review=41, prediction=57)]},
    ),
]

FLAG = {"id": 12, "prediction_id": 57, "predicted_label": "positive", "corrected_label": "negative",
        "comment": "Sarcasm.", "status": "pending", "created_at": NOW}
PREDICTION = {"id": 57, "label": "positive", "confidence": 0.9688, "probabilities": PROBS_POS, "model_version": VERSION,
              "latency_ms": 18.4, "created_at": EARLIER, "flags": []}
REVIEW = {"id": 41, "text": "Oh great, another two hours of my life gone. Brilliant.", "source": "api",
          "created_at": EARLIER, "flagged": False, "prediction": PREDICTION}
REVIEW_DETAIL = {**REVIEW, "flagged": True, "prediction": {**PREDICTION, "flags": [FLAG]},
                 "predictions": [{**PREDICTION, "flags": [FLAG]}]}

REVIEW_CREATE_EXAMPLES = [
    request_example("A review", {"text": "Oh great, another two hours of my life gone. Brilliant."}),
    response_example(
        "Created", {**REVIEW_DETAIL, "flagged": False, "prediction": PREDICTION, "predictions": [PREDICTION]},
        status=201,
    ),
]
REVIEW_LIST_EXAMPLES = [
    response_example("A page", {"count": 21, "count_capped": False, "next": "http://127.0.0.1:8000/api/v1/reviews?page=2", "previous": None,
                                "results": [REVIEW]}),
]
REVIEW_DETAIL_EXAMPLES = [response_example("A flagged review", REVIEW_DETAIL)]
FLAG_EXAMPLES = [
    request_example("Flag as negative", {"label": "negative", "comment": "Sarcasm."}),
    response_example("New flag", FLAG, status=201),
    response_example("Already flagged", FLAG, description="The caller's first flag, unchanged."),
]

FEEDBACK = {**FLAG, "review_id": 41, "review_text": REVIEW["text"], "model_version": VERSION,
            "reviewed_by": None, "reviewed_at": None, "review_note": "",
            "model_text": REVIEW["text"], "invisible_characters": [],
            "source": "client:5d41402abc4b2a76b9719d911017c592a1b2c3d4", "trusted": False,
            "source_history": {"flags": 3, "approved": 1, "rejected": 1, "pending": 1},
            "duplicates": [{"id": 9, "corrected_label": "negative", "status": "approved"}], "conflict": False}
HIDDEN_TEXT = "This film is \u202egood\u202c. Truly\u200b great."
FEEDBACK_HIDDEN = {
    **FEEDBACK, "id": 13, "review_text": HIDDEN_TEXT,
    "model_text": "This film is ⟦U+202E RIGHT-TO-LEFT OVERRIDE⟧good⟦U+202C POP DIRECTIONAL FORMATTING⟧. "
                  "Truly⟦U+200B ZERO WIDTH SPACE⟧ great.",
    "invisible_characters": [{"code_point": "U+202E", "name": "RIGHT-TO-LEFT OVERRIDE", "count": 1},
                             {"code_point": "U+202C", "name": "POP DIRECTIONAL FORMATTING", "count": 1},
                             {"code_point": "U+200B", "name": "ZERO WIDTH SPACE", "count": 1}],
    "source": "user:7", "trusted": False, "source_history": {"flags": 1, "approved": 0, "rejected": 0, "pending": 1},
    "duplicates": [{"id": 10, "corrected_label": "positive", "status": "pending"}], "conflict": True,
}
FEEDBACK_LIST_EXAMPLES = [
    response_example("Pending flags", {"count": 2, "count_capped": False, "next": None, "previous": None,
                                       "results": [FEEDBACK, FEEDBACK_HIDDEN]},
                     description="The second flag's text holds a right-to-left override and a zero-width space "
                                 "(model_text writes them out), and another flag corrected the same text to the "
                                 "other label (conflict)."),
]
APPROVE_EXAMPLES = [
    request_example("With a note", {"note": "Clear sarcasm."}),
    request_example("Without a note", {}),
    response_example("Approved", {**FEEDBACK, "status": "approved", "reviewed_by": "admin", "reviewed_at": NOW,
                                  "review_note": "Clear sarcasm."}),
]
REJECT_EXAMPLES = [
    request_example("With a note", {"note": "The review is positive overall."}),
    response_example("Rejected", {**FEEDBACK, "status": "rejected", "reviewed_by": "admin", "reviewed_at": NOW,
                                  "review_note": "The review is positive overall."}),
]

METRICS = {"test": {"accuracy": 0.912, "f1": 0.911, "intervals": {"accuracy": [0.9042, 0.9198], "f1": [0.9031, 0.9188]}},
           "validation": {"accuracy": 0.915, "f1": 0.914}}
MODEL = {"id": VERSION, "status": "active", "kind": "transformer", "base_model": "all-MiniLM-L6-v2", "profile": "quick",
         "test_accuracy": 0.912, "test_accuracy_interval": [0.9042, 0.9198], "metrics": METRICS, "status_reason": "", "created_at": EARLIER,
         "activated_at": NOW}
MODEL_DETAIL = {**MODEL, "registered_at": NOW, "activated_by": "admin",
                "data": {"source": "packaged", "seed": 42}, "train_config": {"profile": "quick", "seed": 42}}
MODEL_LIST_EXAMPLES = [
    response_example("Two versions", [MODEL, {**MODEL, "id": OLDER_VERSION, "status": "retired", "test_accuracy": 0.884, "test_accuracy_interval": None,
                                              "activated_at": "2026-11-01T09:30:00.000000Z"}]),
]
MODEL_DETAIL_EXAMPLES = [response_example("The active version", MODEL_DETAIL)]
ACTIVATE_EXAMPLES = [
    response_example("Now active", MODEL_DETAIL, description="Every web process switches within seconds."),
]
HEALTH_EXAMPLES = [
    response_example("Anonymous caller", {"status": "ok", "database": True},
                     description="Without staff credentials: the status only."),
    response_example("Healthy", {"status": "ok", "database": True, "active_version": VERSION,
                                 "loaded_version": VERSION, "active_loaded": True, "pid": 4242, "load_error": None,
                                 "worker": {"alive": True, "workers": [{"id": "host:4300:1a2b3c",
                                            "last_seen": "2026-11-29T12:00:05Z", "doing": "",
                                            "queues": ["training", "explanations", "maintenance"], "device": "cpu"}],
                                            "unserved_queues": []}},
                     description="As staff (session or token) see it."),
    response_example("Before the first request", {"status": "ok", "database": True, "active_version": VERSION,
                                                  "loaded_version": None, "active_loaded": False, "pid": 4242,
                                                  "load_error": None, "worker": {"alive": False, "workers": [],
                                                                                "unserved_queues": ["training", "explanations",
                                                                                                    "maintenance"]}},
                     description="Processes load the model on first use."),
    response_example("Database down", {"status": "error", "database": False, "active_version": None,
                                       "loaded_version": VERSION, "active_loaded": False, "pid": 4242,
                                       "load_error": None, "worker": None}, status=503,
                     description="As staff see it; anonymous callers get the status and database fields."),
]

EXPLANATION_RESULT = {
    "label": "positive", "probabilities": PROBS_POS, "explained_label": "positive", "score": 0.83,
    "words": [{"word": "superb", "weight": 0.412, "spans": [[2, 8]]},
              {"word": "boring", "weight": -0.127, "spans": [[40, 46]]}],
    "words_total": 12, "words_considered": 12, "capped": False, "num_samples": 500, "unique_samples": 499,
    "selection": "gcv", "seconds": 2.9,
}
EXPLANATION = {"id": 3, "prediction_id": 17, "model_version": VERSION, "status": "done", "error": "",
               "created_at": EARLIER, "finished_at": NOW, "result": EXPLANATION_RESULT}
EXPLANATION_EXAMPLES = [
    response_example("Being computed", {**EXPLANATION, "status": "pending", "finished_at": None, "result": None},
                     status=202, description="Ask again after Retry-After seconds."),
    response_example("Done", EXPLANATION),
]
TRAINING_RUN = {
    "id": 5, "trigger": "manual", "profile": "retrain", "device": "", "status": "done", "options": {}, "requested_by": "admin",
    "created_at": EARLIER, "finished_at": NOW, "duration_s": 412.0,
    "progress": {"kind": "done", "version": VERSION, "test_accuracy": 0.881},
    "counts": {"replay": 2000, "corrections_used": 96, "oversample": 4, "feedback_rows": 384, "feedback_share": 0.161,
               "holdout": 24, "rows": 2384},
    "correction_ids": [11, 12, 15], "model_version": VERSION, "decision": "promoted",
    "reasons": [{"check": "test accuracy vs active", "passed": True,
                 "detail": "candidate 0.8810, needs >= active 0.8792 - 0.0050 = 0.8742"}],
    "metrics": {"candidate": {"test": {"accuracy": 0.881}}, "active": {"id": OLDER_VERSION, "test": {"accuracy": 0.8792}}},
    "log": "candidate passed the gate and was promoted", "error": "", "attempts": 1,
}
TRAINING_RUN_EXAMPLES = [
    response_example("Queued", {**TRAINING_RUN, "status": "pending", "finished_at": None, "duration_s": None,
                                "progress": {}, "counts": {}, "correction_ids": [], "model_version": None,
                                "decision": "", "reasons": [], "metrics": {}, "log": "", "attempts": 0}, status=202),
    response_example("Promoted", TRAINING_RUN),
]
TRAINING_RUN_LIST_EXAMPLES = [
    response_example("One run", {"count": 1, "count_capped": False, "next": None, "previous": None, "results": [TRAINING_RUN]}),
]
