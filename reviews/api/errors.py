"""The API's one error shape, `{"error": {"code", "message", "fields"}}`, for every failure under
/api/: DRF's exceptions go through `exception_handler` (REST_FRAMEWORK's EXCEPTION_HANDLER), and
what Django answers by itself (an unknown URL, a crash, a body too large to read) is rewritten by
`ApiErrorMiddleware`, in DEBUG too, so a client never has to parse an HTML page."""

from __future__ import annotations

from http import HTTPStatus

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status

from reviews.conf import conf
from reviews.services.reviews import NoActiveModel

API_PREFIX = "/api/"
NON_FIELD = "non_field_errors"
# Error codes that turn a 400 into a 413: the text is over SENTIMENT_REVIEW_MAX_CHARS.
TOO_LONG = "too_long"
# Headers of Django's own error responses that still mean something in the JSON version.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The first model is being prepared; try again in a few minutes."
    default_code = "no_active_model"
    retry_after_s = 60


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(status_code: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    # Compact, like DRF's JSONRenderer, so every error reads the same.
    compact = {"separators": (",", ":")}
    return JsonResponse(error_body(code, message, fields), status=status_code, json_dumps_params=compact)


def body_limit() -> int:
    return conf.api.max_body_bytes


def too_large_message() -> str:
    return f"The request body is over the limit of {body_limit():,} bytes."


# --- DRF's exceptions ------------------------------------------------------------------------


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"field": [...], "texts.3": [...]}: one level, easy to show."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            if item:  # a many=True serializer reports {} for the items that were fine
                flat.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or NON_FIELD: [str(item) for item in items]}


def _codes(codes) -> set[str]:
    if isinstance(codes, dict):
        return set().union(*(_codes(v) for v in codes.values())) if codes else set()
    if isinstance(codes, list):
        return set().union(*(_codes(v) for v in codes)) if codes else set()
    return {str(codes)}


def _from_django_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """A service's ValidationError: its message, and its code when it has one."""
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(exc.message_dict)
    code = exc.error_list[0].code if exc.error_list else None
    return exceptions.ValidationError({NON_FIELD: exc.messages}, code=code or "invalid")


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, NoActiveModel):
        exc = ServiceUnavailable()
    elif isinstance(exc, DjangoValidationError):
        exc = _from_django_validation_error(exc)
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES while it is being
    # imported, and the parser imports this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not ours to explain: Django logs it and the middleware answers a JSON 500
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        codes = _codes(exc.get_codes())
        if TOO_LONG in codes:
            response.status_code, code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "text_too_long"
        elif fields.keys() == {NON_FIELD} and len(codes) == 1:
            code = codes.pop()  # a service's own code, e.g. "same_label"
        else:
            code = "invalid"
        # The message is the first problem, for people; `fields` lists them all, for programs.
        name, messages = next(iter(fields.items()), (NON_FIELD, ["Invalid input."]))
        message = messages[0] if name == NON_FIELD else f"{name}: {messages[0]}"
        fields.pop(NON_FIELD, None)
        response.data = error_body(code, message, fields)
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
    detail = getattr(exc, "detail", None)
    message = str(detail) if isinstance(detail, str) else HTTPStatus(response.status_code).phrase
    response.data = error_body(code, message)
    return response


# --- What Django answers by itself -----------------------------------------------------------

DJANGO_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}


class ApiErrorMiddleware:
    """Under /api/: refuses a declared body over the limit before anything reads it, and turns
    every error that is not already JSON (Django's 404 page, the 500 page, DEBUG's technical
    pages) into the API's error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        if _declared_length(request) > body_limit():
            return error_response(413, "payload_too_large", too_large_message())
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            response = self._as_json(response)
        return response

    @staticmethod
    def _as_json(response):
        code = response.status_code
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        message = {404: "No such endpoint or object.", 500: "Something went wrong on our side; it has been logged."}
        converted = error_response(code, DJANGO_CODES.get(code, "error"), message.get(code, phrase + "."))
        for header in KEPT_HEADERS:
            if header in response:
                converted[header] = response[header]
        return converted


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
