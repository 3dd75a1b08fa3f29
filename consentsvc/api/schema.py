"""Adds the one error shape and every stable error code to the OpenAPI schema."""

from drf_spectacular import openapi
from drf_spectacular.hooks import postprocess_schema_enums

from consentsvc.errors import ERROR_CODES


def add_error_codes(result, generator, request, public):
    result = postprocess_schema_enums(result, generator, request=request, public=public)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    codes = sorted(ERROR_CODES)
    schemas["ErrorCode"] = {
        "type": "string",
        "enum": codes,
        "description": "\n".join(f"* `{c}` ({ERROR_CODES[c][0]}): {ERROR_CODES[c][1]}" for c in codes),
    }
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
    so every API class can keep its own small InputSerializer without schema name clashes."""

    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." in qualname:
            outer, inner = qualname.rsplit(".", 1)
            return outer.replace(".", "").removesuffix("Api") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)
