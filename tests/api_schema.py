"""Check test-client responses against the OpenAPI schema the project serves at /api/schema/.

    assert_conforms(response, "GET", "/api/v1/media/")

fails when the status is not documented for that operation, or the body does not
match the documented schema (error bodies included: they are the Error component).
"""

import json
from functools import cache

import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer


@cache
def schema_document() -> dict:
    """The generated schema (postprocessing hooks included), as a client would load it."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document, renderer_context={}))


@cache
def loaded_schema():
    return schemathesis.openapi.from_dict(schema_document())


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def assert_conforms(response, method: str, path: str) -> None:
    """`path` is the schema's template, e.g. "/api/v1/media/{item_id}/"."""
    documented = schema_document()["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in documented, (
        f"{method} {path} answered {response.status_code}, documented: {sorted(documented)}"
    )
    request = requests.Request(method, "http://testserver" + response.wsgi_request.get_full_path()).prepare()
    checked = schemathesis.Response(
        status_code=response.status_code,
        headers={name: [value] for name, value in response.headers.items()},
        content=body_of(response),
        request=request,
        elapsed=0.0,
        verify=True,
    )
    loaded_schema()[path][method].validate_response(checked)


def assert_error(response, status: int, code: str) -> None:
    """The one error shape, with this status and code."""
    assert response.status_code == status, (response.status_code, body_of(response)[:300])
    assert response["Content-Type"].startswith("application/json")
    error = json.loads(body_of(response))["error"]
    assert error["code"] == code and isinstance(error["message"], str) and error["message"]
