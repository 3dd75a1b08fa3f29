"""Every page carries a Content-Security-Policy, and the API docs pages still work under it."""

import pytest

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch_csp(page) -> list[str]:
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text else None)
    return violations


def test_it_renders_the_swagger_docs_under_the_policy(new_page):
    page = new_page()
    violations = _watch_csp(page)
    response = page.goto("/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary", timeout=20_000)  # operations rendered from /api/schema/
    assert page.locator(".opblock").count() > 20
    page.locator(".opblock-summary").first.click()  # expanding one still works (scripted UI)
    page.wait_for_selector(".opblock-body")
    assert violations == []


def test_it_renders_the_redoc_reference_under_the_policy(new_page):
    page = new_page()
    violations = _watch_csp(page)
    response = page.goto("/api/redoc/")
    assert "content-security-policy" in response.headers
    page.wait_for_selector("[role=menuitem], .menu-content", timeout=30_000)
    page.wait_for_selector("h2", timeout=30_000)
    # Redoc's logo from its CDN is blocked, as every load from elsewhere must be; nothing of ours is.
    assert [v for v in violations if "https://cdn.redoc.ly/" not in v] == []


def test_it_keeps_the_holder_pages_working_under_the_policy(new_page, alice, vault_keys):
    page = new_page()
    violations = _watch_csp(page)
    log_in(page, "alice", PASSWORD)
    for path in ("/settings/camera-roll/", "/media/", "/suggestions/", "/settings/devices/", "/me/access/"):
        response = page.goto(path)
        assert response.status == 200, path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
    assert violations == []
