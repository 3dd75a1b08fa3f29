"""Schemathesis over every operation of /api/schema/, in process, signed in as a holder
(as an auditor for the audit API, as a support agent with an open case for the support API).

Bad input must get a clear 4xx in the one error shape ({"error": {"code", "message"}},
a registered code whose status is the response's), never a 500; every answer must be
one the schema documents, with the documented content type and body.

Bounded and repeatable: a fixed seed, derandomized Hypothesis, a few examples per
operation, no shrinking, no example database. The longer exploratory run against a
development server is tools/fuzz_api.sh.
"""

import json

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.roles import AUDITOR, SUPPORT
from accounts.tokens import token_create
from core.errors import ERROR_CODES
from core.uow import Actor
from support import services as support_services
from tests.api_schema import schema_document
from tests.conftest import make_user
from tests.vault.conftest import grant

EXAMPLES_PER_OPERATION = 6

CONFIG = schemathesis.Config.from_dict({
    "seed": 20261126,
    "generation": {
        "mode": "all",  # valid and invalid input
        "max-examples": EXAMPLES_PER_OPERATION,
        "deterministic": True,
        "no-shrink": True,
        "database": "none",
    },
})

schema = schemathesis.openapi.from_dict(schema_document(), config=CONFIG)
schema.app = WSGIHandler()  # in process: the whole middleware stack, no socket


def one_error_shape(ctx: CheckContext, response, case) -> None:
    """Every 4xx/5xx is {"error": {"code", "message"}} with a registered code of that status."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"{response.status_code} answered as {content_type!r}"
    body = json.loads(response.content)
    assert set(body) == {"error"}, f"not the one error shape: {body!r}"
    error = body["error"]
    assert error.get("code") in ERROR_CODES, f"unregistered error code: {error!r}"
    assert ERROR_CODES[error["code"]][0] == response.status_code, (
        f"{error['code']} is registered as {ERROR_CODES[error['code']][0]}, answered {response.status_code}"
    )
    assert isinstance(error.get("message"), str) and error["message"], f"no message: {error!r}"


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          one_error_shape]


@pytest.fixture
def tokens(db):
    """API tokens: a holder who has turned camera-roll processing on, and, for their own
    operations, an auditor and a support agent with an open case on that holder."""
    holder = make_user("holly")
    grant(holder)
    agent = make_user("sid", SUPPORT)
    support_services.case_open(actor=Actor.support(agent.pk), user_id=holder.pk, reason="Fuzzing", ticket="1")
    return {
        "holder": token_create(user=holder)[1],
        "auditor": token_create(user=make_user("ada", AUDITOR))[1],
        "support": token_create(user=agent)[1],
    }


def role_for(path: str) -> str:
    if path.startswith("/api/v1/audit/"):
        return "auditor"
    if path.startswith("/api/v1/support/"):
        return "support"
    return "holder"


@pytest.fixture(autouse=True)
def _in_process_requests():
    """Like Django's test client: keep the test's connection (and its transaction) across requests,
    and start and end with an empty throttle cache."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    cache.clear()
    yield
    cache.clear()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_it_answers_every_operation_as_documented(case, tokens):
    token = tokens[role_for(case.path)]
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
