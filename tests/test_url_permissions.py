"""Every URL must have a row here saying who may use it; each app's tests prove the row.

A new URL without a row fails this test, so no endpoint ships without a deny-path test.
"""

from django.urls import URLPattern, URLResolver, get_resolver

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
    "support:me-data": "holder",
    "support:me-notice-dismiss": "holder",  # tests/support/test_notices.py
    "support:me-export-create": "holder",
    "support:me-export-download": "holder",
    "support:me-erase": "holder",
    "api-me-access-log": "holder",
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
