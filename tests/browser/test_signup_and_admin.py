"""Sign-up is a page of the site like log-in (fields in the site's own layout, full width, the password
rules shown beside the password and announced with it); /admin/ is the site's 404 for everyone but
staff, its login page included. At 390 and 1280 px."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from accounts.roles import AUDITOR
from tests.browser.conftest import log_in, snap
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def _field_widths(page) -> list[tuple[str, float, float]]:
    """(name, input width, form width) of every visible input of the page's form, in its .field."""
    return page.locator("main form input:visible").evaluate_all(
        "inputs => inputs.map(i => [i.name, i.closest('.field') ? i.getBoundingClientRect().width : -1,"
        " i.form.getBoundingClientRect().width])")


@pytest.mark.parametrize("size", SIZES)
def test_it_shows_a_sign_up_page_like_the_log_in_page_with_the_password_rules(new_page, size):
    page = new_page()
    page.set_viewport_size(SIZES[size])
    page.goto("/accounts/login/")
    login_widths = _field_widths(page)
    assert login_widths and all(width == form for _, width, form in login_widths), login_widths

    page.goto("/accounts/signup/")
    widths = _field_widths(page)
    assert [name for name, _, _ in widths] == ["username", "email", "password1", "password2"]
    # Each field in the site's own .field, as wide as the form, as on the log-in page.
    assert all(width == form for _, width, form in widths), widths
    rules = page.locator(".password-rules")
    expect(rules).to_be_visible()
    expect(rules.locator("li")).to_have_count(4)
    expect(rules).to_contain_text("at least 10 characters")
    # A screen reader hears the rules with the password field.
    described = page.locator("#id_password1").get_attribute("aria-describedby")
    assert described and "at least 10 characters" in page.locator(f"#{described}").inner_text()
    snap(page, f"{size}-signup")

    page.fill("#id_username", f"newcomer{size}")
    page.fill("#id_password1", "short")
    page.fill("#id_password2", "short")
    page.get_by_role("button", name="Create account").click()
    error = page.locator(".field.has-error .errorlist")
    expect(error.first).to_contain_text("too short")
    expect(rules).to_be_visible()
    snap(page, f"{size}-signup-error")

    page.fill("#id_password1", "a-long-enough-password-42")
    page.fill("#id_password2", "a-long-enough-password-42")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".messages")).to_contain_text("Everything is off until you turn it on.")


@pytest.mark.parametrize("size", SIZES)
def test_it_answers_admin_urls_with_the_sites_404_for_everyone_but_staff(new_page, size):
    make_user("alice")
    make_user("audrey", AUDITOR)
    get_user_model().objects.create_superuser("olga", "olga@example.org", PASSWORD)
    for who in (None, "alice", "audrey"):
        page = new_page()
        page.set_viewport_size(SIZES[size])
        if who:
            log_in(page, who, PASSWORD)
        for path in ("/admin/", "/admin/login/", "/admin/audit/auditevent/"):
            response = page.goto(path)
            assert response.status == 404, (who, path, response.status)
            expect(page.get_by_role("heading", level=1)).to_have_text("There is nothing here")
            expect(page.locator("#id_username")).to_have_count(0)
        snap(page, f"{size}-admin-404-{who or 'visitor'}")
    page = new_page()
    page.set_viewport_size(SIZES[size])
    log_in(page, "olga", PASSWORD)
    response = page.goto("/admin/")
    assert response.status == 200
    expect(page.locator("#site-name")).to_be_visible()
