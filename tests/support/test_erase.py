"""Erasure is complete and provable (invariant 5), whether support or the holder asks for it.

After the erase a walk of the database (every row of every model linked to the
account, following foreign keys transitively, plus integer columns that name a
user) and of the storage folder finds nothing of that account but its consent
ledger, its audit events and the account row itself; `audit_verify` still passes.
"""

from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models

from core.uow import Actor
from support import rights, services
from tests.support.conftest import grant, open_case, upload
from tests.support.test_access_log import make_a_collage
from vault import services as vault_services

pytestmark = pytest.mark.django_db

# What may stay: the account row and what makes it an account (its role, the empty
# row its writes lock), the consent ledger (with the row per purpose that points at its
# newest entry) and the audit trail, all without content. Its API tokens go: an erase
# signs every device out.
# The holder's own log (audit.holderlog, audit.holderlogentry) is part of the trail: its entries are the
# trail's events about them (ids and codes only), by seq.
ALWAYS_ALLOWED = {"accounts.user", "accounts.user_groups", "core.accountlock",
                  "consent.consententry", "consent.consentstate", "audit.auditevent",
                  "audit.holderlog", "audit.holderlogentry", "audit.holderlogtile", "audit.holdercheckpoint"}
# A support erase happens inside a case, and the case (who acted, when, why, on
# which ticket) is the accountability record of it: it holds no media, place or label. So are the
# notice that tells the holder about it and the agent's notes on the case.
SUPPORT_RECORDS = {"support.supportcase", "support.supportaction", "support.supportnotice",
                   "support.supportcasenote"}
USER_ID_COLUMNS = {"user_id", "owner_id", "subject_id", "holder_id", "account_id"}


def rows_linked_to(user) -> dict[str, set]:
    """{model label: primary keys} of every row that points at the account, directly or through other rows."""
    linked: dict[type[models.Model], set] = defaultdict(set)
    user_model = get_user_model()
    linked[user_model].add(user.pk)
    every_model = [m for m in apps.get_models(include_auto_created=True) if not m._meta.proxy]
    changed = True
    while changed:
        changed = False
        for model in every_model:
            for field in model._meta.concrete_fields:
                if field.is_relation and field.related_model in linked and linked[field.related_model]:
                    targets = linked[field.related_model]
                    lookup = {f"{field.attname}__in": list(targets)}
                elif (not field.is_relation and field.attname in USER_ID_COLUMNS
                      and isinstance(field, models.IntegerField)):
                    lookup = {field.attname: user.pk}
                else:
                    continue
                found = set(model._base_manager.filter(**lookup).values_list("pk", flat=True))
                if found - linked[model]:
                    linked[model] |= found
                    changed = True
    return {model._meta.label_lower: pks for model, pks in linked.items() if pks}


def storage_files() -> list[Path]:
    root = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def give_alice_everything(alice, bob, django_capture_on_commit_callbacks):
    """alice: photos with places and labels, a collage, date and place exclusions, a waiting export. bob: photos."""
    grant(alice)
    grant(bob)
    ids = upload(alice, 5, labels=("beach", "grandma"))
    make_a_collage(alice, ids[:3])
    vault_services.exclusion_create_date_range(user_id=alice.pk, start=date(2026, 1, 1), end=date(2026, 1, 31))
    vault_services.exclusion_create_place(user_id=alice.pk, name="Home", lat=51.5007, lon=-0.1246, radius_m=200)
    upload(bob, 2, start=100)
    with django_capture_on_commit_callbacks(execute=True):
        export = rights.export_request(user=alice)
    export.refresh_from_db()
    assert export.status == "ready", export.error_code
    before = rows_linked_to(alice)
    for label in ("vault.mediaitem", "vault.derivedoutput", "vault.accountkey", "vault.exclusion",
                  "support.dataexport"):
        assert before.get(label), f"the scenario should hold {label} rows for alice"
    assert any(f"/vault/{alice.pk}/" in str(path) for path in storage_files())


def assert_nothing_left(alice, bob, *, allowed):
    left = {label: pks for label, pks in rows_linked_to(alice).items() if label not in allowed}
    assert left == {}, f"rows of the erased account remain: {left}"
    files = storage_files()
    assert files, "bob's media must be untouched"
    # Every file left is bob's (blobs live under <root>/<account id>/...).
    assert all(f"/vault/{bob.pk}/" in str(path) for path in files), [str(p) for p in files]
    assert rows_linked_to(bob).get("vault.mediaitem")
    assert rows_linked_to(alice)["consent.consententry"]
    assert rows_linked_to(alice)["audit.auditevent"]
    call_command("audit_verify", verbosity=0)


def test_it_leaves_nothing_but_ledger_audit_and_account_after_a_support_erase(
    sam, alice, bob, django_capture_on_commit_callbacks
):
    give_alice_everything(alice, bob, django_capture_on_commit_callbacks)
    case = open_case(sam, alice)
    with django_capture_on_commit_callbacks(execute=True):
        action = services.support_erase(actor=Actor.support(sam.pk), user_id=alice.pk, reason="Holder asked by email")
    assert action.counts["items"] == 5 and action.counts["outputs"] == 1 and action.counts["exports"] == 1
    services.case_close(actor=Actor.support(sam.pk), case_id=case.pk)
    assert_nothing_left(alice, bob, allowed=ALWAYS_ALLOWED | SUPPORT_RECORDS)


def test_it_leaves_nothing_but_ledger_audit_and_account_after_the_holder_erases(
    api, alice, bob, django_capture_on_commit_callbacks
):
    give_alice_everything(alice, bob, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).delete("/api/v1/me/cloud-media/")
    assert response.status_code == 200, response.content
    assert response.json()["erased"]["items"] == 5
    # The device that asked stays signed in: it sees the feature off (the erase turned it off) and stops.
    assert_nothing_left(alice, bob, allowed=ALWAYS_ALLOWED | {"accounts.apitoken"})


def test_it_audits_the_erase_without_content(sam, alice, bob, django_capture_on_commit_callbacks):
    import json

    from audit.models import AuditEvent

    give_alice_everything(alice, bob, django_capture_on_commit_callbacks)
    open_case(sam, alice)
    with django_capture_on_commit_callbacks(execute=True):
        services.support_erase(actor=Actor.support(sam.pk), user_id=alice.pk, reason="Holder asked by email")
    event = AuditEvent.objects.get(action="support.erase")
    assert event.details["items"] == 5 and event.details["case_id"]
    # Every field but the time, whose seconds can read "51.50" (it failed at 00:01:51.50).
    entries = [json.loads(bytes(e.canonical)) for e in AuditEvent.objects.all()]
    trail = json.dumps([{k: v for k, v in entry.items() if k != "time"} for entry in entries])
    for content in ("beach", "grandma", "Home", "51.50", "email"):
        assert content not in trail


@pytest.mark.parametrize("who,status", [("bob", 200), ("sam", 403), ("audrey", 403), ("anonymous", 401)])
def test_it_lets_each_holder_erase_only_their_own_cloud_media(api, request, alice, who, status):
    from vault.selectors import media_summary

    grant(alice)
    upload(alice, 2)
    client = api() if who == "anonymous" else api(request.getfixturevalue(who))
    assert client.delete("/api/v1/me/cloud-media/").status_code == status
    assert media_summary(user_id=alice.pk)["items"] == 2
