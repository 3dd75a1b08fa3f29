"""The write path is enforced by tools: each violation issue 22 planted is caught here.

core.guard is on for the whole suite (tests/conftest.py); these tests plant one violation each and
see it fail. The two source rules (audit's writers) are in tests/test_write_path.py and
import-linter's contracts.
"""

from datetime import date

import pytest
from django.db import transaction

from core import guard
from core.uow import Actor, account_write, events_write
from vault import services as vault_services
from vault.models import Exclusion


@pytest.fixture(autouse=True)
def _guard_on():
    """tests/conftest.py turns the guard on for the whole suite; these tests plant violations in it."""
    assert guard._active


@pytest.fixture
def excluded(alice, _guard_on):
    """alice holds one row written the sanctioned way: an exclusion, through her unit of work."""
    return vault_services.exclusion_create_date_range(user_id=alice.pk, start=date(2020, 1, 1),
                                                      end=date(2020, 12, 31))


def test_it_is_on():
    assert guard._active and Exclusion in guard.account_owned()


def test_it_fails_account_rows_deleted_with_no_unit(alice, excluded):
    with pytest.raises(guard.WriteOutsideUnit), transaction.atomic():
        Exclusion.objects.filter(owner_id=alice.pk).delete()
    with pytest.raises(guard.WriteOutsideUnit), transaction.atomic():
        Exclusion.objects.get(owner_id=alice.pk).delete()
    assert Exclusion.objects.filter(owner_id=alice.pk).count() == 1


def test_it_fails_an_account_change_inside_events_write(alice, excluded):
    with pytest.raises(guard.WriteOutsideUnit), events_write(actor=Actor.holder(alice.pk), user_id=alice.pk):
        Exclusion.objects.filter(owner_id=alice.pk).update(start=date(2019, 1, 1))


def test_it_fails_a_save_and_a_bulk_write_with_no_unit(alice):
    with pytest.raises(guard.WriteOutsideUnit), transaction.atomic():
        Exclusion.objects.create(owner_id=alice.pk, kind="date_range", start=date(2020, 1, 1), end=date(2020, 2, 1))
    with pytest.raises(guard.WriteOutsideUnit), transaction.atomic():
        Exclusion.objects.bulk_create([Exclusion(owner_id=alice.pk, kind="date_range", start=date(2020, 1, 1),
                                                 end=date(2020, 2, 1))])


def test_it_fails_on_commit_in_place_of_the_units_after_commit(alice):
    planted = {"__name__": "vault.planted", "transaction": transaction}
    exec("def delete_later(fn):\n    transaction.on_commit(fn)\n", planted)  # noqa: S102  (a module of ours, planted)
    with (pytest.raises(guard.WriteOutsideUnit, match="core.uow.after_commit"),
          account_write(user_id=alice.pk, actor=Actor.holder(alice.pk))):
        planted["delete_later"](lambda: None)


def test_it_lets_the_unit_write(alice, excluded):
    with account_write(user_id=alice.pk, actor=Actor.holder(alice.pk)):
        Exclusion.objects.filter(owner_id=alice.pk).delete()
    assert not Exclusion.objects.filter(owner_id=alice.pk).exists()


@pytest.mark.parametrize("label", [
    "accounts.User_groups", "accounts.ApiToken", "support.SupportCase", "support.SupportCaseNote",
    "support.SupportNotice", "support.SubjectUserObjectPermission", "support.SubjectGroupObjectPermission",
    "support.DataExport", "suggestions.SuggestionJob", "suggestions.ShareLink", "vault.PartialUpload",
])
def test_it_exempts_none_of_the_models_once_written_outside_a_unit(db, label):
    """Roles, tokens, support's rows, exports, jobs, share links and resumable uploads are guarded
    like every other account-owned model: nothing is left on a list of exceptions."""
    from django.apps import apps

    model = apps.get_model(label)
    assert model in guard.account_owned()
    with pytest.raises(guard.WriteOutsideUnit), transaction.atomic():
        model.objects.filter(pk__in=[]).delete()


# -- a unit of work is one account's: a row of bob's written in alice's unit fails --------------------


@pytest.fixture
def bobs(bob):
    """bob's exclusion, written the sanctioned way (in his unit)."""
    return vault_services.exclusion_create_date_range(user_id=bob.pk, start=date(2021, 1, 1), end=date(2021, 2, 1))


def in_alices_unit(alice):
    return account_write(user_id=alice.pk, actor=Actor.holder(alice.pk))


def test_it_fails_a_save_of_another_accounts_row_inside_a_unit(alice, bob, bobs):
    with pytest.raises(guard.WriteInOtherUnit, match=f"account\\(s\\) \\[{bob.pk}\\]"), in_alices_unit(alice):
        bobs.end = date(2021, 3, 1)
        bobs.save(update_fields=["end"])
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        Exclusion.objects.create(owner_id=bob.pk, kind="date_range", start=date(2020, 1, 1), end=date(2020, 2, 1))


def test_it_fails_a_delete_of_another_accounts_row_inside_a_unit(alice, bob, bobs):
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        bobs.delete()
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        Exclusion.objects.filter(owner_id=bob.pk).delete()
    assert Exclusion.objects.filter(owner_id=bob.pk).count() == 1


def test_it_fails_a_queryset_update_that_reaches_another_accounts_rows(alice, bob, excluded, bobs):
    """An unfiltered update inside alice's unit touches bob's row too: it fails, not just the
    update aimed at bob."""
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        Exclusion.objects.update(start=date(2019, 1, 1))
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        Exclusion.objects.filter(pk=bobs.pk).update(start=date(2019, 1, 1))
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):  # locked first: the same
        Exclusion.objects.select_for_update().filter(pk=bobs.pk).update(start=date(2019, 1, 1))
    with in_alices_unit(alice):  # her own rows: fine
        Exclusion.objects.filter(owner_id=alice.pk).update(start=date(2019, 1, 1))
        Exclusion.objects.select_for_update().filter(owner_id=alice.pk).update(start=date(2019, 1, 2))
    bobs.refresh_from_db()
    assert bobs.start == date(2021, 1, 1)


def test_it_fails_bulk_writes_of_another_accounts_rows_inside_a_unit(alice, bob, bobs):
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        Exclusion.objects.bulk_create([
            Exclusion(owner_id=alice.pk, kind="date_range", start=date(2020, 1, 1), end=date(2020, 2, 1)),
            Exclusion(owner_id=bob.pk, kind="date_range", start=date(2020, 1, 1), end=date(2020, 2, 1))])
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        bobs.start = date(2018, 1, 1)
        Exclusion.objects.bulk_update([bobs], ["start"])


def test_it_fails_another_accounts_role_changed_inside_a_unit(alice, bob):
    from django.contrib.auth.models import Group

    auditors = Group.objects.get_or_create(name="auditor")[0]
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        bob.groups.add(auditors)
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        auditors.user_set.add(bob)  # the same link, from the other side
    assert not bob.groups.filter(name="auditor").exists()


def test_it_finds_the_account_of_a_row_through_the_row_it_belongs_to(alice, bob, sam):
    """A case note's account is its case's subject (not its author, the agent): a note on a case
    about bob, written in alice's unit, fails, and written in bob's it passes."""
    from django.utils import timezone

    from support import services as support_services
    from support.models import SupportCaseNote

    case = support_services.case_open(actor=Actor.support(sam.pk), user_id=bob.pk, reason="Holder phoned", ticket="T-1")
    assert guard.account_path(SupportCaseNote) == "case__subject"
    now = timezone.now()
    with pytest.raises(guard.WriteInOtherUnit), in_alices_unit(alice):
        SupportCaseNote.objects.create(case_id=case.pk, author=sam, text="wrong account", created_at=now)
    with pytest.raises(guard.WriteInOtherUnit), account_write(user_id=sam.pk, actor=Actor.support(sam.pk)):
        SupportCaseNote.objects.create(case_id=case.pk, author=sam, text="agent's unit", created_at=now)
    with account_write(user_id=bob.pk, actor=Actor.support(sam.pk)):
        SupportCaseNote.objects.create(case_id=case.pk, author=sam, text="subject's unit", created_at=now)


def test_every_account_owned_model_has_one_account():
    """A model whose rows name two users says which is its account; every other path is worked out."""
    paths = {model._meta.label: guard.account_path(model) for model in guard.account_owned()}
    assert paths["support.SupportCase"] == "subject"
    assert paths["support.SubjectUserObjectPermission"] == "content_object"
    assert paths["support.SupportAction"] == "case__subject"
    assert paths["vault.DerivedOutput_sources"] == "derivedoutput__owner"
    assert paths["vault.MediaItem"] == "owner"
