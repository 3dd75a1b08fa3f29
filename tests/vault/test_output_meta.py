"""Sealed output metadata: output_store(meta=...) and outputs_meta(), the owner's only."""

import pytest

from audit.models import AuditEvent
from core.uow import Actor
from tests.conftest import unit_of
from tests.vault.conftest import jpeg_bytes, withdraw
from vault import gateway, services, shredding
from vault.models import DerivedOutput

pytestmark = pytest.mark.django_db

META = {"title": "Weekend in Óbidos", "n": 3}


@pytest.fixture
def item(consented):
    return services.media_upload(user_id=consented.pk, data=jpeg_bytes(), filename="p.jpg").item


def store(user, item, meta=META, data=b"collage"):
    return gateway.output_store(
        user_id=user.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage", source_ids=[item.pk], data=data,
        content_type="image/jpeg", meta=meta,
    )


def test_it_seals_the_meta_and_opens_it_for_the_owner(consented, item):
    with_meta = store(consented, item)
    without = store(consented, item, meta=None)
    sealed = bytes(DerivedOutput.objects.get(pk=with_meta).sealed_meta)
    assert b"bidos" not in sealed and b"Weekend" not in sealed and b"title" not in sealed
    assert DerivedOutput.objects.get(pk=without).sealed_meta is None
    assert gateway.outputs_meta(user_id=consented.pk, output_ids=[with_meta, without, 999999]) == {
        with_meta: META,
        without: {},
    }
    assert gateway.outputs_meta(user_id=consented.pk, output_ids=[]) == {}


def test_it_keeps_the_meta_out_of_the_audit_and_does_not_audit_listing_it(consented, item):
    output_id = store(consented, item)
    stored = AuditEvent.objects.get(action="output.stored", object_id=str(output_id))
    assert "bidos" not in str(stored.details) and "title" not in stored.details
    events = AuditEvent.objects.count()
    gateway.outputs_meta(user_id=consented.pk, output_ids=[output_id])
    assert AuditEvent.objects.count() == events


def test_it_gives_another_holder_nothing(consented, item, bob):
    output_id = store(consented, item)
    assert gateway.outputs_meta(user_id=bob.pk, output_ids=[output_id]) == {}


def test_it_leaves_out_and_audits_meta_that_was_moved_or_changed(consented, item):
    first, second = store(consented, item), store(consented, item, meta={"title": "other"})
    moved = DerivedOutput.objects.get(pk=first).sealed_meta
    with unit_of(consented):
        DerivedOutput.objects.filter(pk=second).update(sealed_meta=moved)  # bound to its own output's uid
    assert gateway.outputs_meta(user_id=consented.pk, output_ids=[first, second]) == {first: META}
    error = AuditEvent.objects.get(action="output.read", outcome="error")
    assert (error.object_id, error.details) == (str(second), {"code": "sealed_meta_invalid"})


@pytest.mark.parametrize("meta", [["title"], {1: "x"}, {"title": "x" * 3000}, {"v": float("nan")}])
def test_it_refuses_meta_that_is_not_a_small_json_object_before_storing_anything(consented, item, meta, tmp_path):
    with pytest.raises((TypeError, ValueError)):
        store(consented, item, meta=meta)
    assert not DerivedOutput.objects.exists()
    assert not list((tmp_path / "blobs").rglob("*.output"))


@pytest.mark.parametrize("how", ["owner", "withdraw", "erase"])
def test_it_deletes_the_meta_with_the_output(consented, item, how):
    output_id = store(consented, item)
    if how == "owner":
        gateway.output_delete(user_id=consented.pk, output_id=output_id)
    elif how == "withdraw":
        withdraw(consented)
    else:
        shredding.media_erase_all(user_id=consented.pk, actor=Actor.holder(consented.pk))
    assert not DerivedOutput.objects.filter(pk=output_id).exists()
    assert gateway.outputs_meta(user_id=consented.pk, output_ids=[output_id]) == {}
