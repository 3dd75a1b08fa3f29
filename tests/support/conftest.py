"""Fixtures for support and the holder's rights: a second agent, cases in every state, consent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import SUPPORT
from consent import purposes
from consent import selectors as consent_selectors
from consent import services as consent_services
from support import services
from support.models import SupportCase
from tests.conftest import make_user


@pytest.fixture
def sue(db):
    """Another support agent: she has no case of her own on alice."""
    return make_user("sue", SUPPORT)


def grant(user, purpose=purposes.CAMERA_ROLL):
    version = consent_selectors.notice_current(purpose=purpose).version
    return consent_services.consent_give(user=user, purpose=purpose, notice_version=version, method="web",
                                         actor=user)


def open_case(agent, subject, *, ticket="4411", reason="Holder phoned: wants the camera roll feature off"):
    return services.case_open(agent=agent, subject_id=subject.pk, reason=reason, ticket=ticket)


def expire(case: SupportCase) -> SupportCase:
    """Move a case's end into the past, as if its hours had run out (nothing else is touched)."""
    SupportCase.objects.filter(pk=case.pk).update(
        opened_at=case.opened_at - timedelta(hours=9), expires_at=timezone.now() - timedelta(seconds=1)
    )
    case.refresh_from_db()
    return case


@pytest.fixture
def case_in_state():
    """case_in_state(state, agent, subject): 'none', 'closed' or 'expired' -> the case (or None)."""

    def make(state, agent, subject):
        if state == "none":
            return None
        case = open_case(agent, subject)
        if state == "closed":
            services.case_close(agent=agent, case_id=case.pk)
        elif state == "expired":
            expire(case)
        case.refresh_from_db()
        return case

    return make
