"""JSON in, with limits: a body larger than API_MAX_JSON_BYTES or nested deeper than
API_MAX_JSON_DEPTH is a 400 in the one error shape, never a RecursionError and a 500."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import parsers

from core.errors import ServiceError, register_code

REQUEST_TOO_LARGE = register_code("request_too_large", 400, "The request body is larger than this endpoint accepts.")
TOO_DEEPLY_NESTED = register_code("too_deeply_nested", 400, "The JSON is nested deeper than this service accepts.")
TOO_MANY_FILES = register_code("too_many_files", 400, "The request carries more files than one request may.")
TOO_MANY_FIELDS = register_code("too_many_fields", 400, "The request carries more fields than one request may.")


def _check_depth(value, limit: int) -> None:
    """Iteratively, so that checking depth cannot itself recurse too deep."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise ServiceError(TOO_DEEPLY_NESTED, f"JSON may be nested at most {limit} levels deep.")
        stack.extend((child, depth + 1) for child in children)


def json_loads_limited(raw: str | bytes, *, max_depth: int | None = None):
    """json.loads, with the depth limit (ServiceError) and ValueError for malformed input."""
    limit = max_depth or settings.API_MAX_JSON_DEPTH
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ServiceError(TOO_DEEPLY_NESTED, f"JSON may be nested at most {limit} levels deep.") from None
    _check_depth(value, limit)
    return value


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_JSON_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ServiceError(REQUEST_TOO_LARGE, f"A JSON body may be at most {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads_limited(raw.decode(encoding))
        except (ValueError, UnicodeDecodeError) as exc:
            raise parsers.ParseError(f"JSON parse error - {exc}") from None
