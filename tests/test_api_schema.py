"""/api/schema/ documents every operation's error responses with the one Error schema."""

import pytest

from core.api.schema import MAX_ID
from tests.api_schema import schema_document

ERROR_REF = {"$ref": "#/components/schemas/Error"}
PUBLIC = {("post", "/api/v1/auth/token/"), ("get", "/api/v1/consent/receipts/public-key/")}


def operations():
    for path, item in schema_document()["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_it_gives_every_error_response_the_error_schema():
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {"application/json": {"schema": ERROR_REF}}, (method, path, status)


def test_it_documents_what_the_http_layer_answers():
    for method, path, operation in operations():
        statuses = set(operation["responses"])
        if (method, path) not in PUBLIC:
            assert {"401", "403"} <= statuses, (method, path)
        if "requestBody" in operation:
            assert {"400", "415"} <= statuses, (method, path)
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "400" in statuses, (method, path)
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert "404" in statuses, (method, path)


def test_it_documents_the_token_endpoints_throttle_and_lockout():
    responses = schema_document()["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert {"200", "400", "415", "429"} == set(responses)
    assert "login_locked" in responses["429"]["description"]


def test_it_bounds_integer_path_parameters_to_row_ids():
    bounded = [
        parameter["schema"]
        for _, _, operation in operations()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["schema"].get("type") == "integer"
    ]
    assert bounded
    assert all(schema["minimum"] == 1 and schema["maximum"] == MAX_ID for schema in bounded)


@pytest.mark.django_db
def test_it_serves_the_same_schema_it_generates(client):
    served = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert served == schema_document()
