"""Adds the one error shape and every stable error code to the OpenAPI schema.

Every operation documents the error responses the HTTP layer can give it (AutoSchema
below decides which from the view), and every error response, declared by hand or
not, carries the Error schema.
"""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.hooks import postprocess_schema_enums
from rest_framework import permissions

from core.errors import ERROR_CODES

MAX_ID = 2**63 - 1  # the largest BigAutoField value


def error_content() -> dict:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


# What the HTTP layer itself answers (core.api.errors), by status.
GENERIC_ERRORS = {
    "400": "invalid_request (`fields` says where) or malformed_request",
    "401": "not_authenticated or authentication_failed",
    "403": "permission_denied",
    "404": "not_found",
    "415": "unsupported_media_type",
    "429": "throttled",
}


def add_error_codes(result, generator, request, public):
    result = postprocess_schema_enums(result, generator, request=request, public=public)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    codes = sorted(ERROR_CODES)
    schemas["ErrorCode"] = {
        "type": "string",
        "enum": codes,
        "description": "\n".join(f"* `{c}` ({ERROR_CODES[c][0]}): {ERROR_CODES[c][1]}" for c in codes),
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status >= "400" and "content" not in response:
                    response["content"] = error_content()
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"$ref": "#/components/schemas/ErrorCode"},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    }
    return result


class AutoSchema(openapi.AutoSchema):
    """Names nested serializers after their API class (ConsentSetApi.InputSerializer → ConsentSetInput),
    so every API class can keep its own small InputSerializer without schema name clashes; lists the
    error responses every operation can give."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is not None:
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter["schema"].get("type") == "integer":
                    # Integer path parameters are row ids (BigAutoField): say so, and fuzzers try the edges.
                    parameter["schema"].setdefault("minimum", 1)
                    parameter["schema"].setdefault("maximum", MAX_ID)
            responses = operation["responses"]
            for status in self._generic_error_statuses(operation):
                responses.setdefault(status, {"description": GENERIC_ERRORS[status]})
            operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _generic_error_statuses(self, operation) -> list[str]:
        places = {parameter.get("in") for parameter in operation.get("parameters", [])}
        has_body = "requestBody" in operation
        authenticates = bool(self.view.get_authenticators())
        restricted = any(not isinstance(p, permissions.AllowAny) for p in self.view.get_permissions())
        statuses = []
        if has_body or "query" in places:
            statuses.append("400")
        if authenticates:
            statuses.append("401")  # a wrong or expired token, whatever the permissions
        if restricted:
            statuses.append("403")
        if "path" in places or self._get_paginator() is not None or "page" in self._query_names(operation):
            statuses.append("404")  # another holder's object, or a page past the end
        if has_body:
            statuses.append("415")
        if self.view.get_throttles():
            statuses.append("429")
        return statuses

    @staticmethod
    def _query_names(operation) -> set[str]:
        return {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}

    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." in qualname:
            outer, inner = qualname.rsplit(".", 1)
            return outer.replace(".", "").removesuffix("Api") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the API token is sent, in the schema (the same scheme DRF's TokenAuthentication had)."""

    target_class = "accounts.tokens.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token-based authentication with required prefix "Token"',
        }
