"""Every page, as a visitor, a holder, an auditor and a support agent sees it, at 390 and 1280 px: axe-core
(from the npm registry, injected into the page) finds no serious or critical WCAG 2.2 A/AA violation, and
every control is at least 24x24 CSS px (a primary button 44x44), a link inside a sentence excepted."""

import pytest

from accounts.roles import AUDITOR, SUPPORT
from consent.models import ConsentEntry
from core.uow import Actor
from suggestions import sharing
from suggestions.models import Suggestion
from support import rights
from support import services as support_services
from tests.browser.conftest import axe_violations, log_in, small_targets, snap
from tests.browser.test_phone_layout import HOLDER_PAGES
from tests.conftest import PASSWORD, make_user
from tests.suggestions.conftest import COLOURS, a_day_out, grant, photo
from vault import services as vault_services
from vault import trash

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture
def everyone(vault_keys):
    """alice with photos, suggestions, a share link, an exclusion, an export and a photo in the trash;
    audrey the auditor; sam of support, with a case open about alice."""
    from suggestions.jobs import suggestions_generate_now

    alice = make_user("alice")
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    suggestions_generate_now(user_id=alice.pk)
    suggestion = Suggestion.objects.filter(owner=alice).first()
    token = sharing.share_link_create(user_id=alice.pk, suggestion_id=suggestion.pk).token
    vault_services.exclusion_create_place(user_id=alice.pk, name="A place with a rather long name indeed",
                                          lat=38.7223, lon=-9.1393, radius_m=250)
    rights.export_request(user=alice)
    spare = vault_services.media_upload(user_id=alice.pk, data=photo((9, 9, 9)), method="api").item.pk
    trash.media_trash(user_id=alice.pk, item_ids=[spare])
    make_user("audrey", AUDITOR)
    sam = make_user("sam", SUPPORT)
    support_services.case_open(actor=Actor.support(sam.pk), user_id=alice.pk, reason="Phoned in", ticket="4411")
    receipt = ConsentEntry.objects.filter(subject=alice).values_list("record_id", flat=True).first()
    return {"alice": alice, "token": token, "receipt": receipt}


def _pages(everyone) -> dict[str, list[str]]:
    alice = everyone["alice"]
    return {
        "visitor": ["/", "/accounts/login/", "/accounts/signup/", "/no/such/page/", f"/s/{everyone['token']}/"],
        "alice": [path for path, _ in HOLDER_PAGES] + [
            "/settings/devices/", "/people/", f"/settings/camera-roll/receipts/{everyone['receipt']}/",
            "/accounts/password/done/", "/audit/", "/no/such/page/"],
        "audrey": ["/audit/", "/support/", "/no/such/page/"],
        "sam": ["/support/", "/support/?q=ali", f"/support/subjects/{alice.pk}/",
                f"/support/subjects/{alice.pk}/erase/"],
    }


def _check(page, axe_source, problems: list[str], where: str) -> None:
    problems += [f"{where}: {v}" for v in axe_violations(page, axe_source)]
    problems += [f"{where}: {t}" for t in small_targets(page)]


@pytest.mark.parametrize("size", SIZES)
def test_it_finds_no_serious_violation_and_no_small_target_on_any_page(new_page, everyone, axe_source, size):
    problems: list[str] = []
    for who, paths in _pages(everyone).items():
        page = new_page()
        page.set_viewport_size(SIZES[size])
        if who != "visitor":
            log_in(page, who, PASSWORD)
        for path in paths:
            page.goto(path)
            _check(page, axe_source, problems, f"{who} {path}")
            snap(page, f"a11y-{size}-{who}{path.replace('/', '-')}")
        if who == "sam":
            # The revoke confirmation is the answer to a form, not a page of its own.
            page.goto(f"/support/subjects/{everyone['alice'].pk}/")
            page.select_option("#id_purpose", "camera_roll_cloud_processing")
            page.fill("#id_reason", "Phoned in")
            page.get_by_role("button", name="Continue").click()
            _check(page, axe_source, problems, "sam revoke confirmation")
        if who == "alice" and size == "phone":
            # The menu, opened.
            page.goto("/media/")
            page.get_by_role("button", name="Menu").click()
            _check(page, axe_source, problems, "alice menu open")
    assert not problems, "\n".join(problems)
