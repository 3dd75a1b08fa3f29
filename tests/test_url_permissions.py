"""Every URL must have a row here saying who may use it, and every row is tried: each URL is
requested by nobody, by the owner of what it names, by another holder (404 for what names the
owner's objects), by an auditor and by support agents with and without a case, and each answer is
checked against the row. A new URL without a row fails, so no endpoint ships without its deny paths.
"""

import datetime as dt
import json

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import SUPPORT
from core.uow import Actor
from tests.conftest import api_for

# name -> who is allowed: "anonymous" (anyone), "authenticated", "holder",
# "auditor", "support", "operator" (Django admin / staff).
PERMISSION_TABLE = {
    "home": "anonymous",
    "login": "anonymous",
    "logout": "authenticated",
    "role-switch": "authenticated",  # only to a role the user holds (tests/accounts/test_home.py)
    "signup": "anonymous",
    "password_change": "authenticated",
    "password_change_done": "authenticated",
    "auth-token": "anonymous",
    "healthz": "anonymous",  # no data: {"status": "ok"} (tests/test_serving.py)
    "auth-logout": "authenticated",
    "devices": "authenticated",  # each person's own devices (tests/accounts/test_tokens.py)
    "schema": "anonymous",
    "api-docs": "anonymous",
    "api-redoc": "anonymous",
    "consent:settings": "holder",
    "consent:turn-off": "holder",
    "consent:receipt": "holder",
    "api-consent-state": "holder",
    "api-consent-history": "holder",
    "api-consent-notice": "holder",
    "api-consent-receipt-key": "anonymous",
    "api-consent-receipt": "holder",
    "api-consent-set": "holder",
    # vault: the holder's own media and exclusions (another holder's item is a 404)
    "api-media-list": "holder",
    "api-media-detail": "holder",
    "api-media-content": "holder",
    "api-media-thumbnail": "holder",
    "api-media-trash": "holder",
    "api-media-restore": "holder",
    "api-media-uploads": "holder",
    "api-media-upload": "holder",
    "api-exclusion-list": "holder",
    "api-exclusion-detail": "holder",
    "vault:media": "holder",
    "vault:media-erase": "holder",
    "vault:media-upload": "holder",
    "vault:trash": "holder",
    "vault:trash-empty": "holder",
    "vault:media-restore": "holder",
    "vault:media-bulk": "holder",
    "vault:media-thumbnail": "holder",
    "vault:media-original": "holder",
    "vault:media-exclude": "holder",
    "vault:media-delete": "holder",
    "vault:exclusions": "holder",
    "vault:exclusion-delete": "holder",
    # suggestions: the holder's own (tests/suggestions/test_api.py, test_pages.py; another holder's is a 404)
    "suggestions:list": "holder",
    "suggestions:generate": "holder",
    "suggestions:preview": "holder",
    "suggestions:video": "holder",
    "suggestions:poster": "holder",
    "suggestions:accept": "holder",
    "suggestions:dismiss": "holder",
    "api-suggestions-list": "holder",
    "api-suggestions-generate": "holder",
    "api-suggestions-job": "holder",
    "api-suggestions-content": "holder",
    "api-suggestions-accept": "holder",
    "api-suggestions-dismiss": "holder",
    # people: the holder's own, only with face_analysis (tests/suggestions/test_people.py)
    "suggestions:people": "holder",
    "suggestions:people-names": "holder",
    "suggestions:person": "holder",
    "suggestions:person-face": "holder",
    "suggestions:person-name": "holder",
    "suggestions:person-hide": "holder",
    "suggestions:person-merge": "holder",
    "api-people-list": "holder",
    "api-people-detail": "holder",
    "api-people-merge": "holder",
    # share links: made and revoked by the holder; opened by anyone holding an unguessable token
    # (tests/suggestions/test_sharing.py tries unknown, revoked, expired and withdrawn ones)
    "suggestions:download": "holder",
    "suggestions:share": "holder",
    "suggestions:share-link-revoke": "holder",
    "suggestions:shared": "anonymous",
    "suggestions:shared-content": "anonymous",
    "api-suggestions-share-links": "holder",
    "api-share-link-revoke": "holder",
    # audit: auditors only (tests/audit/test_api.py, test_page.py)
    "audit:trail": "auditor",
    "audit:public-key-pem": "auditor",
    "api-audit-events-list": "auditor",
    "api-audit-events-export": "auditor",
    "api-audit-checkpoint-latest": "auditor",
    "api-audit-public-key": "auditor",
    "api-audit-proof-inclusion": "auditor",
    "api-audit-proof-consistency": "auditor",
    "api-audit-checkpoint-witnessed": "auditor",
    "api-audit-cosignature-add": "auditor",
    "api-audit-tlog-checkpoint": "auditor",
    "api-audit-tlog-tile": "auditor",
    "api-audit-tlog-entries": "auditor",
    # support: every support row also needs an open, unexpired case on that account (404 otherwise)
    "support:console": "support",
    "support:case-open": "support",
    "support:case-close": "support",
    "support:case-note-add": "support",  # tests/support/test_notices.py
    "support:subject": "support",
    "support:subject-revoke": "support",
    "support:subject-erase": "support",
    "api-support-case-open": "support",
    "api-support-case-close": "support",
    "api-support-subject-summary": "support",
    "api-support-subject-revoke": "support",
    "api-support-subject-erase": "support",
    # the holder's rights (always the holder's own data; someone else's export is a 404)
    "support:me-access": "holder",
    "support:me-access-download": "holder",  # tests/support/test_access_history_proof.py
    "support:me-data": "holder",
    "support:me-notice-dismiss": "holder",  # tests/support/test_notices.py
    "support:me-export-create": "holder",
    "support:me-export-download": "holder",
    "support:me-erase": "holder",
    "api-me-access-log": "holder",
    # the caller's own holder log (no URL names a log: another holder reads their own)
    "api-me-tlog-checkpoint": "holder",
    "api-me-tlog-tile": "holder",
    "api-me-tlog-entries": "holder",
    "api-me-tlog-commitment": "holder",
    "api-me-export-create": "holder",
    "api-me-export-detail": "holder",
    "api-me-cloud-media-erase": "holder",
}

IGNORED_NAMESPACES = {"admin"}


def _walk(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in IGNORED_NAMESPACES:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}" if entry.name else f"<unnamed {entry.pattern}>"


def test_it_has_a_permission_row_for_every_url():
    names = set(_walk(get_resolver().url_patterns))
    missing = sorted(name for name in names if name not in PERMISSION_TABLE)
    assert not missing, f"URLs without a row in PERMISSION_TABLE: {missing}"


def test_it_has_no_rows_for_urls_that_do_not_exist():
    names = set(_walk(get_resolver().url_patterns))
    stale = sorted(name for name in PERMISSION_TABLE if name not in names)
    assert not stale, f"rows for URLs that no longer exist: {stale}"


# --- Each row, exercised -------------------------------------------------------------------------
# Every URL is requested by: nobody signed in, the owner of the objects it names (alice), another
# holder (bob), an auditor, a support agent with an open case on alice (sam) and one without (sue),
# each request in a savepoint that is rolled back, so no request changes what the next one sees.

# The URL arguments that name one of alice's objects: another holder (or an agent without a case)
# must get 404 for them, as if they did not exist.
OWNED_ARGUMENTS = {"item_id", "exclusion_id", "pk", "link_id", "job_id", "record_id", "entry_id", "notice_id",
                   "export_id", "upload_id", "subject_id", "case_id"}
# Where a row's answer is not the general rule, and why.
DEVIATIONS = {
    # Django's sign-out page sends everyone, signed in or not, to the login page (no ?next=).
    "logout": "anonymous lands on the login page",
}


@pytest.fixture
def world(alice, bob, audrey, sam, settings, tmp_path, django_capture_on_commit_callbacks):
    """alice with one of everything a URL can name; bob, audrey, sam (a case on alice) and sue (none)."""
    import base64
    import os

    from audit import notes
    from audit import services as audit_services
    from consent import purposes
    from consent.models import ConsentEntry
    from suggestions import services as suggestion_services
    from suggestions import sharing
    from suggestions.models import Person, Suggestion, SuggestionJob
    from support import rights
    from support import services as support_services
    from support.models import SupportNotice
    from tests.conftest import make_user
    from tests.suggestions.conftest import COLOURS, a_day_out, a_day_with_friends, grant
    from vault import services as vault_services
    from vault.models import MediaItem, PartialUpload

    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    grant(alice, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS, purposes.SUGGESTION_PROMPTS)
    grant(bob, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)  # all alice has but her objects
    a_day_out(alice, COLOURS[:6])
    a_day_with_friends(alice)
    with django_capture_on_commit_callbacks(execute=True):
        suggestion_services.suggestions_generate(user_id=alice.pk)
        export = rights.export_request(user=alice)
    recap = Suggestion.objects.filter(owner=alice, kind="recap", video_output__isnull=False).first()
    assert recap is not None, "no recap with a video: the video and poster URLs need one"
    tus = api_for(alice).post("/api/v1/media/uploads/", HTTP_UPLOAD_LENGTH="10", HTTP_TUS_RESUMABLE="1.0.0")
    assert tus.status_code == 201, tus.content
    generated = api_for(alice).post("/api/v1/suggestions/generate/")
    assert generated.status_code in (200, 202), generated.content
    case = support_services.case_open(actor=Actor.support(sam.pk), user_id=alice.pk,
                                      reason="Holder phoned about prompts", ticket="4411")
    with django_capture_on_commit_callbacks(execute=True):
        browser(sam).post(f"/support/subjects/{alice.pk}/revoke/",
                          {"purpose": purposes.SUGGESTION_PROMPTS, "reason": "Holder asked", "confirm": "yes"})
    link = sharing.share_link_create(user_id=alice.pk, suggestion_id=recap.pk)
    # A checkpoint, cosigned by a witness (for the witnessed-checkpoint URL).
    from core import signing
    from tests.audit.test_witness import NAME, ApiLog, witness

    settings.AUDIT_WITNESSES = [witness.init(str(tmp_path / "witness.pem"), NAME)]
    audit_services.audit_checkpoint_if_due()  # with the holder logs' heads (alice's and bob's)
    audit_services.audit_checkpoint_create()
    log_vkey = notes.verifier_key(settings.AUDIT_CHECKPOINT_ORIGIN, signing.public_key("AUDIT_SIGNING_KEY"))
    witness.witness_once(log=ApiLog(api_for(audrey)), log_vkey=log_vkey,
                         key=witness.load_key(str(tmp_path / "witness.pem")), name=NAME,
                         state_path=str(tmp_path / "state.json"), say=lambda _: None)
    checkpoint = api_for(audrey).get("/api/v1/audit/tlog/checkpoint")
    assert checkpoint.status_code == 200, checkpoint.content
    size = int(checkpoint.content.decode().splitlines()[1])
    assert 0 < size < 256, size
    arguments = {
        "item_id": MediaItem.objects.filter(owner=alice).order_by("id").first().pk,
        "exclusion_id": vault_services.exclusion_create_date_range(
            user_id=alice.pk, start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 2)).pk,
        "link_id": link.link.pk,
        "token": link.token,
        "job_id": SuggestionJob.objects.filter(owner=alice).latest("id").pk,
        "record_id": str(ConsentEntry.objects.filter(subject_id=alice.pk).first().record_id),
        "notice_id": SupportNotice.objects.get(holder=alice).pk,
        "export_id": export.pk,
        "upload_id": str(PartialUpload.objects.get(owner=alice).uid),
        "subject_id": alice.pk,
        "case_id": case.pk,
        "purpose": purposes.CAMERA_ROLL,
        "level": "0", "index": "000", "width": str(size),
    }
    arguments["entry_id"] = arguments["record_id"]
    found = list(Person.objects.filter(owner=alice).order_by("id"))
    assert len(found) >= 2, "fewer than two people found in the portraits"
    return {
        "arguments": arguments, "suggestion": recap.pk, "person": found[0].pk, "other person": found[1].pk,
        "users": {"owner": alice, "other holder": bob, "auditor": audrey, "support with a case": sam,
                  "support without a case": make_user("sue", SUPPORT)},
    }


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _patterns(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in IGNORED_NAMESPACES:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


def _url(name: str, pattern: URLPattern, world) -> tuple[str, set[str]]:
    """The URL for ``name`` naming alice's objects, and which of its arguments are hers."""
    wanted = set(pattern.pattern.regex.groupindex)
    arguments = dict(world["arguments"])
    arguments["pk"] = world["person"] if "person" in name or "people" in name else world["suggestion"]
    kwargs = {key: arguments[key] for key in wanted}
    if name in ("api-audit-tlog-tile", "api-audit-tlog-entries") and "level" not in wanted:
        kwargs.pop("level", None)
    if name in ("api-me-tlog-tile", "api-me-tlog-entries"):  # the caller's own log: its first entry
        kwargs = {key: "1" if key == "width" else value for key, value in kwargs.items() if key != "level"} | (
            {"level": "0"} if name == "api-me-tlog-tile" else {})
    return reverse(name, kwargs=kwargs), wanted & OWNED_ARGUMENTS


def _body(name: str, user, world) -> dict:
    """What a request to ``name`` carries, where an empty one would be refused before anyone is
    checked (a 400 says nothing about who may): valid input, stopping short of the act where a
    page asks to confirm."""
    from accounts.roles import roles_of

    bodies = {
        "role-switch": {"role": roles_of(user)[0] if user is not None else "holder"},
        "suggestions:person-merge": {"person": world["other person"]},
        "api-people-merge": {"person": world["other person"]},
        "support:subject-revoke": {"purpose": "suggestion_prompts", "reason": "Holder asked", "confirm": ""},
        "api-support-subject-revoke": {"purpose": "suggestion_prompts", "reason": "Holder asked"},
        "api-support-subject-erase": {"reason": "Holder asked"},
    }
    return bodies.get(name, {})


def _request(user, method: str, url: str, body: dict):
    """One request in a savepoint that is rolled back (no on-commit hook runs inside the test's transaction)."""
    client = browser(user)
    block = transaction.atomic()
    # The harness's own block, like the test case's: a unit of work opens inside it (core.uow
    # refuses a foreign transaction, and Django marks the test case's blocks the same way).
    block._from_testcase = True
    with block:
        if method == "POST" and not url.startswith("/api/"):
            response = client.post(url, body)
        else:
            response = client.generic(method, url, json.dumps(body) if body else b"",
                                      content_type="application/json", HTTP_TUS_RESUMABLE="1.0.0")
        transaction.set_rollback(True)
    if response.streaming:
        # Not read (nothing it would write happens): closed as the test client closes one, without
        # close_old_connections, which would drop the test's connection mid-transaction.
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
    return response


def _sent_to_log_in(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


def _refused(response, *, api: bool) -> bool:
    if api:
        return response.status_code in (401, 403)
    return _sent_to_log_in(response)


def _allowed(response) -> bool:
    return response.status_code not in (401, 403, 404, 405) and response.status_code < 500 and not _sent_to_log_in(
        response)


def _method(url: str, allowed_user) -> str:
    """GET where the view answers it, else the first method its 405 names (HEAD first: it changes nothing)."""
    response = _request(allowed_user, "GET", url, {})
    if response.status_code != 405:
        return "GET"
    offered = [m.strip() for m in response["Allow"].split(",")]
    return next(m for m in ("HEAD", "POST", "PUT", "PATCH", "DELETE") if m in offered)


def _expected(row: str, role: str, owned: bool) -> str:
    """What ``role`` should get: "allowed", "refused" (log in / 401), "forbidden" (403) or "missing" (404)."""
    if role == "anonymous":
        return "allowed" if row == "anonymous" else "refused"
    if row in ("anonymous", "authenticated"):
        return "allowed"
    held = {"owner": "holder", "other holder": "holder", "auditor": "auditor",
            "support with a case": "support", "support without a case": "support"}[role]
    if held != row:
        return "forbidden"
    if owned and role in ("other holder", "support without a case"):
        return "missing"
    return "allowed"


def test_every_url_answers_each_role_as_its_row_says(world):
    """owner / other holder (404 for what names alice's objects) / auditor / support / anonymous."""
    users = {"anonymous": None, **world["users"]}
    allowed_user = {"anonymous": None, "authenticated": world["users"]["owner"], "holder": world["users"]["owner"],
                    "auditor": world["users"]["auditor"], "support": world["users"]["support with a case"]}
    wrong, exercised = [], 0
    for name, pattern in _patterns(get_resolver().url_patterns):
        row = PERMISSION_TABLE[name]
        url, owned = _url(name, pattern, world)
        method = _method(url, allowed_user[row])
        api = url.startswith("/api/")
        for role, user in users.items():
            response = _request(user, method, url, _body(name, user, world))
            expected = _expected(row, role, bool(owned))
            got = {
                "allowed": _allowed(response), "refused": _refused(response, api=api),
                "forbidden": response.status_code == 403, "missing": response.status_code == 404,
            }[expected]
            if not got and not (name in DEVIATIONS and role == "anonymous"):
                wrong.append(f"{name} ({method} {url}) as {role}: {response.status_code}, expected {expected}")
            exercised += 1
    assert not wrong, "\n".join(wrong)
    assert exercised == 6 * len(PERMISSION_TABLE)
