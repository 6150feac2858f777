"""The API's JSON parser: DRF's, bounded and strict."""

import json

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from reviews.api.errors import PayloadTooLarge, body_limit, too_large_message


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, bounded: it never reads past the body limit, and everything that is not
    strict JSON (NaN, nesting deeper than Python can follow, text that is not Unicode, lone
    surrogates a database would refuse) is a 400, not a crash further down."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = body_limit()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(too_large_message())
        charset = ((parser_context or {}).get("encoding")) or settings.DEFAULT_CHARSET
        try:
            data = json.loads(raw.decode(charset), parse_constant=_reject_constant)
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError, LookupError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {_short(exc)}") from None
        return data


def _short(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, UnicodeError):
        return "it is not valid UTF-8 text"
    return str(exc)[:200]
