"""Auditors see what support did on the audit page (and never a reason an agent typed)."""

import pytest
from django.test import Client

from core.uow import Actor
from support import services
from tests.support.conftest import grant, open_case, upload

pytestmark = pytest.mark.django_db


def test_it_shows_support_actions_to_auditors_on_the_audit_page(sam, audrey, alice,
                                                                django_capture_on_commit_callbacks):
    grant(alice)
    upload(alice, 2)
    case = open_case(sam, alice)
    with django_capture_on_commit_callbacks(execute=True):
        services.support_erase(actor=Actor.support(sam.pk), user_id=alice.pk, reason="typed by the agent")
    services.case_close(actor=Actor.support(sam.pk), case_id=case.pk)
    client = Client()
    client.force_login(audrey)
    page = client.get("/audit/", {"subject": alice.pk})
    assert page.status_code == 200
    html = page.content.decode()
    for action in ("support.case_opened", "support.erase", "media.erased", "support.case_closed"):
        assert action in html
    assert "typed by the agent" not in html
