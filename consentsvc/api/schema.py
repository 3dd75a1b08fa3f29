"""Adds the one error shape and every stable error code to the OpenAPI schema."""

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
                    "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                },
            }
        },
    }
    return result
