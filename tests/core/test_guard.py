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
