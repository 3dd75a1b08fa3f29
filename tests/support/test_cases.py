"""Support cases: object permissions granted on open, removed on close or expiry, checked every time."""

import json

import pytest
from django.core.management import call_command
from guardian.core import ObjectPermissionChecker
from guardian.utils import get_user_obj_perms_model

from audit.models import AuditEvent
from core.errors import ServiceError
from core.uow import Actor
from support import cases, services
from support.models import SubjectUserObjectPermission, SupportCase
from tests.conftest import unit_of
from tests.support.conftest import expire, open_case

pytestmark = pytest.mark.django_db

REASON = "Holder phoned: wants the camera roll feature off"


def _perms(agent, subject) -> set[str]:
    return set(ObjectPermissionChecker(agent).get_perms(subject))


def test_it_uses_a_direct_foreign_key_permission_model_for_accounts(alice):
    assert get_user_obj_perms_model(alice) is SubjectUserObjectPermission
    field = SubjectUserObjectPermission._meta.get_field("content_object")
    assert field.remote_field.model is type(alice)


def test_it_grants_the_agent_rights_on_that_one_account_when_a_case_opens(sam, alice, bob):
    case = open_case(sam, alice)
    assert case.expires_at - case.opened_at == __import__("datetime").timedelta(hours=8)
    assert _perms(sam, alice) == set(cases.PERMISSIONS)
    assert _perms(sam, bob) == set()
    assert SubjectUserObjectPermission.objects.filter(user=sam, content_object=alice).count() == 3


def test_it_takes_the_case_length_from_settings(settings, sam, alice):
    settings.SUPPORT_CASE_HOURS = 2
    case = open_case(sam, alice)
    assert (case.expires_at - case.opened_at).total_seconds() == 2 * 3600


def test_it_audits_the_opening_with_the_case_id_and_ticket_but_never_the_reason(sam, alice):
    case = open_case(sam, alice)
    event = AuditEvent.objects.get(action="support.case_opened")
    assert (event.actor_kind, event.actor_id, event.subject_id) == ("support", str(sam.pk), alice.pk)
    assert event.details["case_id"] == case.pk and event.details["ticket"] == "4411"
    assert SupportCase.objects.get(pk=case.pk).reason == REASON
    for stored in AuditEvent.objects.all():
        assert "phoned" not in bytes(stored.canonical).decode()


def test_it_keeps_a_ticket_that_is_not_an_id_out_of_the_audit_trail(sam, alice):
    case = open_case(sam, alice, ticket="call from alice about her photos")
    event = AuditEvent.objects.get(action="support.case_opened")
    assert "ticket" not in event.details
    assert case.ticket == "call from alice about her photos"
    assert "alice" not in json.dumps(event.details)


def test_it_refuses_a_second_open_case_for_the_same_account(sam, alice):
    first = open_case(sam, alice)
    with pytest.raises(ServiceError) as refused:
        open_case(sam, alice)
    assert refused.value.code == "case_already_open" and refused.value.extra == {"case_id": first.pk}


def test_it_lets_an_agent_open_a_new_case_once_the_old_one_expired(sam, alice):
    old = expire(open_case(sam, alice))
    new = open_case(sam, alice)
    old.refresh_from_db()
    assert old.closed_how == "expired" and new.pk != old.pk
    assert _perms(sam, alice) == set(cases.PERMISSIONS)


@pytest.mark.parametrize("who", ["self", "auditor", "other_agent", "missing", "inactive"])
def test_it_opens_cases_only_on_active_holder_accounts(sam, sue, audrey, alice, who):
    if who == "inactive":
        alice.is_active = False
        alice.save(update_fields=["is_active"])
    subject_id = {"self": sam.pk, "auditor": audrey.pk, "other_agent": sue.pk, "missing": 999_999,
                  "inactive": alice.pk}[who]
    with pytest.raises(ServiceError) as refused:
        services.case_open(actor=Actor.support(sam.pk), user_id=subject_id, reason=REASON, ticket="1")
    assert refused.value.code == "not_found"
    assert not SupportCase.objects.exists()


def test_it_needs_a_reason_and_a_ticket(sam, alice):
    for reason, ticket in (("", "1"), ("   ", "1"), (REASON, "")):
        with pytest.raises(ServiceError) as refused:
            services.case_open(actor=Actor.support(sam.pk), user_id=alice.pk, reason=reason, ticket=ticket)
        assert refused.value.code == "invalid_request"


def test_it_removes_the_rights_when_the_case_closes(sam, alice):
    case = open_case(sam, alice)
    services.case_close(actor=Actor.support(sam.pk), case_id=case.pk)
    case.refresh_from_db()
    assert case.closed_at is not None and case.closed_how == "closed"
    assert _perms(sam, alice) == set()
    event = AuditEvent.objects.get(action="support.case_closed")
    assert event.details["case_id"] == case.pk and event.actor_id == str(sam.pk)


def test_it_does_not_let_one_agent_close_anothers_case(sam, sue, alice):
    case = open_case(sam, alice)
    with pytest.raises(ServiceError) as refused:
        services.case_close(actor=Actor.support(sue.pk), case_id=case.pk)
    assert refused.value.code == "not_found"
    assert _perms(sam, alice) == set(cases.PERMISSIONS)


def test_it_refuses_an_expired_case_at_once_without_waiting_for_the_cleanup(sam, alice):
    case = expire(open_case(sam, alice))
    # The permission rows are still there (nothing has cleaned up yet) ...
    assert _perms(sam, alice) == set(cases.PERMISSIONS)
    # ... but every check also demands a live case.
    for permission in cases.PERMISSIONS:
        with pytest.raises(ServiceError) as refused:
            cases.case_require(actor=Actor.support(sam.pk), user_id=alice.pk, permission=permission)
        assert refused.value.code == "not_found"
    with pytest.raises(ServiceError):
        services.case_close(actor=Actor.support(sam.pk), case_id=case.pk)


def test_it_refuses_a_live_case_whose_permission_rows_are_gone(sam, alice):
    open_case(sam, alice)
    with unit_of(alice):
        SubjectUserObjectPermission.objects.filter(permission__codename=cases.ERASE).delete()
    with pytest.raises(ServiceError):
        cases.case_require(actor=Actor.support(sam.pk), user_id=alice.pk, permission=cases.ERASE)
    assert cases.case_require(actor=Actor.support(sam.pk), user_id=alice.pk, permission=cases.VIEW)


def test_it_refuses_an_agent_who_lost_the_support_role(sam, alice):
    from accounts.services import role_revoke

    open_case(sam, alice)
    role_revoke(user=sam, role="support")
    with pytest.raises(ServiceError) as refused:
        cases.case_require(actor=Actor.support(sam.pk), user_id=alice.pk, permission=cases.VIEW)
    assert refused.value.code == "permission_denied"


def test_it_expires_cases_with_the_cleanup_command_once(sam, sue, alice, bob):
    expired = expire(open_case(sam, alice))
    live = open_case(sue, bob)
    call_command("support_expire_cases", verbosity=0)
    call_command("support_expire_cases", verbosity=0)
    expired.refresh_from_db()
    live.refresh_from_db()
    assert expired.closed_how == "expired" and live.closed_at is None
    assert _perms(sam, alice) == set() and _perms(sue, bob) == set(cases.PERMISSIONS)
    events = AuditEvent.objects.filter(action="support.case_expired")
    assert events.count() == 1 and events.get().actor_kind == "system"


def test_it_lists_an_agents_own_cases_only(sam, sue, alice, bob):
    from support import selectors

    open_case(sam, alice)
    open_case(sue, bob)
    assert [c.subject_id for c in selectors.cases_for_agent(actor=Actor.support(sam.pk))] == [alice.pk]


def test_it_finds_holders_by_username_or_id_but_never_staff(sam, audrey, alice):
    from support import selectors

    assert selectors.account_find(query="ALICE") == [alice]
    assert selectors.account_find(query=str(alice.pk)) == [alice]
    assert selectors.account_find(query="audrey") == []
    assert selectors.account_find(query=str(sam.pk)) == []
    assert selectors.account_find(query="") == []


@pytest.mark.parametrize("service, kwargs", [
    (services.case_open, {"user_id": 0, "reason": "r", "ticket": "1"}),
    (services.case_close, {"case_id": 0}),
    (services.support_subject_summary, {"user_id": 0}),
    (services.support_revoke, {"user_id": 0, "purpose": "face_analysis", "reason": "r"}),
    (services.support_erase, {"user_id": 0, "reason": "r"}),
])
def test_support_services_take_the_acting_agent_as_an_actor_and_nothing_else(sam, alice, service, kwargs):
    """One actor type: a user object is refused outright, and an actor of another kind (the holder,
    the system), or one naming an account that is no support agent, is refused as not support."""
    open_case(sam, alice)
    kwargs = {k: (alice.pk if v == 0 and k == "user_id" else v) for k, v in kwargs.items()}
    if "case_id" in kwargs:
        kwargs["case_id"] = SupportCase.objects.get(agent=sam).pk
    with pytest.raises(TypeError):
        service(agent=sam, **kwargs)
    for actor in (Actor.holder(sam.pk), Actor.system(), Actor.support(alice.pk)):
        with pytest.raises(ServiceError) as refused:
            service(actor=actor, **kwargs)
        assert refused.value.code in ("permission_denied", "not_found")
    assert SupportCase.objects.get(agent=sam).closed_at is None  # nothing was done by any of them
