"""Roles and API tokens are account data: written in the account's unit of work, each change
with its audit event (issue 22). core.guard is on for the suite, so a write outside fails."""

import datetime as dt

import pytest
from django.core.management import call_command

from accounts import services, tokens
from accounts.models import ApiToken
from audit.models import AuditEvent
from core import guard
from core.uow import Actor

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def events(user, prefix="account."):
    return list(AuditEvent.objects.filter(subject_id=user.pk, action__startswith=prefix)
                .order_by("seq").values_list("action", "actor_kind", "actor_id", "object_id"))


def test_it_records_a_role_granted_and_revoked_with_who_did_it(alice, sam):
    services.role_grant(user=alice, role="support", actor=Actor.support(sam.pk))
    services.role_grant(user=alice, role="support", actor=Actor.support(sam.pk))  # held already: no event
    services.role_revoke(user=alice, role="support")
    services.role_revoke(user=alice, role="support")  # not held: no event
    assert events(alice) == [("account.role_granted", "support", str(sam.pk), "support"),
                             ("account.role_revoked", "system", "grant_role", "support")]
    assert set(alice.groups.values_list("name", flat=True)) == {"holder"}


def test_it_records_a_role_given_by_the_command(alice):
    call_command("grant_role", "alice", "auditor", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert events(alice) == [("account.role_granted", "system", "grant_role", "auditor")]


def test_it_records_sign_up_without_a_role_event(alice):
    assert events(alice) == []
    assert list(alice.groups.values_list("name", flat=True)) == ["holder"]


def test_it_records_a_token_created_and_revoked(alice, bob):
    token, _ = tokens.token_create(user=alice, name="phone")
    assert not tokens.token_revoke(user_id=bob.pk, token_id=token.pk)  # bob cannot sign alice's device out
    assert ApiToken.objects.filter(pk=token.pk).exists() and events(bob) == []
    assert tokens.token_revoke(user_id=alice.pk, token_id=token.pk)
    assert events(alice) == [("account.token_created", "holder", str(alice.pk), str(token.pk)),
                             ("account.token_revoked", "holder", str(alice.pk), str(token.pk))]


def test_it_records_every_token_revoked_on_a_password_change(alice):
    first, _ = tokens.token_create(user=alice, name="phone")
    second, _ = tokens.token_create(user=alice, name="laptop")
    assert tokens.tokens_revoke_all(user_id=alice.pk) == 2
    revoked = [e for e in events(alice) if e[0] == "account.token_revoked"]
    assert sorted(e[3] for e in revoked) == sorted([str(first.pk), str(second.pk)])
    assert tokens.tokens_revoke_all(user_id=alice.pk) == 0


def test_it_purges_expired_tokens_account_by_account(alice, bob):
    old, _ = tokens.token_create(user=alice, name="old")
    live, _ = tokens.token_create(user=bob, name="live")
    ApiToken.objects.filter(pk=old.pk).update(expires_at=NOW - dt.timedelta(days=1), last_used_at=NOW)
    ApiToken.objects.filter(pk=live.pk).update(expires_at=NOW + dt.timedelta(days=1), last_used_at=NOW)
    assert tokens.tokens_purge_expired(now=NOW) == 1
    assert list(ApiToken.objects.values_list("pk", flat=True)) == [live.pk]


def test_it_fails_a_role_or_token_written_outside_the_unit(alice):
    from django.contrib.auth.models import Group

    with pytest.raises(guard.WriteOutsideUnit):
        alice.groups.add(Group.objects.get(name="auditor"))
    with pytest.raises(guard.WriteOutsideUnit):
        ApiToken.objects.filter(user=alice).delete()


def test_it_records_roles_an_operator_changes_in_the_admin(alice):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    operator = get_user_model().objects.create_superuser("olga", "olga@example.org", "an-operator-password-42")
    console = Client()
    console.force_login(operator)
    support = Group.objects.get_or_create(name="support")[0]
    response = console.post(f"/admin/accounts/user/{alice.pk}/change/", {
        "username": "alice", "email": "", "is_active": "on", "groups": [support.pk],
        "date_joined_0": "2026-12-01", "date_joined_1": "12:00:00",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(alice.groups.values_list("name", flat=True)) == {"support"}
    assert events(alice) == [("account.role_granted", "system", "admin", "support"),
                             ("account.role_revoked", "system", "admin", "holder")]


def test_it_tells_the_holder_and_the_auditor_of_a_device_signed_in_and_out(alice):
    from audit.sentences import sentence
    from support import access_log

    token, _ = tokens.token_create(user=alice, name="Pixel")
    lines = [e.summary for e in access_log.access_log_entries(user_id=alice.pk)]
    assert lines == ["You signed in the phone app on Pixel"]
    tokens.token_revoke(user_id=alice.pk, token_id=token.pk)
    lines = [e.summary for e in access_log.access_log_entries(user_id=alice.pk)]
    assert lines[0] == "You signed out the phone app on a device since signed out"
    said = [sentence(e, {str(alice.pk): "alice"}) for e in AuditEvent.objects.filter(subject_id=alice.pk)]
    assert said == [f"Holder alice signed in API device {token.pk}", f"Holder alice signed out API device {token.pk}"]


def test_the_admin_refuses_to_delete_an_account_and_says_where_erasure_is(alice):
    """A delete in the admin would cascade through the holder's rows outside any unit of work,
    unaudited: the page and the bulk action are refused, with the way to do it instead."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from core.models import AccountLock
    from tests.conftest import unit_of

    operator = get_user_model().objects.create_superuser("olga", "olga@example.org", "an-operator-password-42")
    console = Client()
    console.force_login(operator)
    with unit_of(alice):
        pass  # her account's lock row: something of hers that a cascade would take
    response = console.post(f"/admin/accounts/user/{alice.pk}/delete/", {"post": "yes"}, follow=True)
    assert "cannot be deleted in the admin" in response.content.decode()
    assert "erase service" in response.content.decode()
    response = console.post("/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [alice.pk],
                                                      "post": "yes"}, follow=True)
    assert get_user_model().objects.filter(pk=alice.pk).exists()
    assert AccountLock.objects.filter(user_id=alice.pk).exists()
    page = console.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    assert f"/admin/accounts/user/{alice.pk}/delete/" not in page
