"""vault.gateway: the one door. Every test here tries to get something out that must stay in."""

import dataclasses
import io
from datetime import date, datetime

import pytest
from PIL import Image

from audit.models import AuditEvent
from consent import purposes
from tests.vault.conftest import grant, jpeg_bytes, withdraw
from vault import gateway, services
from vault.models import DerivedOutput, MediaItem

pytestmark = pytest.mark.django_db

MONACO = (43.7384, 7.4246)
NICE = (43.7102, 7.2620)  # about 13 km from Monaco


def add(user, *, color=(10, 20, 30), when=None, where=None, labels=None):
    exif = {}
    if when:
        exif["captured_at"] = when
    if where:
        exif["lat"], exif["lon"] = where
    data = jpeg_bytes(color=color, exif=exif or None)
    return services.media_upload(user_id=user.pk, data=data, filename="p.jpg", labels=labels).item


@pytest.fixture
def photos(consented):
    return {
        "monaco": add(consented, color=(200, 0, 0), when=datetime(2024, 8, 3, 12), where=MONACO, labels=["sea"]),
        "nice": add(consented, color=(0, 200, 0), when=datetime(2024, 9, 1, 12), where=NICE),
        "plain": add(consented, color=(0, 0, 200)),
    }


def ids(metas):
    return sorted(m.id if hasattr(m, "id") else m.meta.id for m in metas)


def test_it_lists_candidates_with_decrypted_metadata_and_one_audit_event(photos, consented):
    metas = gateway.candidates(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS)
    assert ids(metas) == sorted(p.pk for p in photos.values())
    monaco = next(m for m in metas if m.id == photos["monaco"].pk)
    assert monaco.lat == pytest.approx(MONACO[0], abs=1e-4) and monaco.labels == ("sea",)
    assert monaco.captured_at == datetime(2024, 8, 3, 12) and len(monaco.sha256) == 64
    event = AuditEvent.objects.get(action="media.listed")
    assert (event.purpose, event.details["count"]) == (gateway.PURPOSE_SUGGESTIONS, 3)


def test_it_releases_stripped_originals_with_one_read_event_per_item(photos, consented):
    released = gateway.release(
        user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=[p.pk for p in photos.values()]
    )
    assert ids(released) == sorted(p.pk for p in photos.values())
    for item in released:
        image = Image.open(io.BytesIO(item.data))
        assert image.format == "JPEG" and 0x8825 not in image.getexif()
    reads = AuditEvent.objects.filter(action="media.read", purpose=gateway.PURPOSE_SUGGESTIONS)
    assert sorted(int(e.object_id) for e in reads) == ids(released)
    thumbs = gateway.release(
        user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=[photos["plain"].pk], variant="thumbnail"
    )
    assert Image.open(io.BytesIO(thumbs[0].data)).format == "JPEG"


def test_it_releases_nothing_if_the_audit_cannot_be_written(photos, consented, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("audit unavailable")

    from core import uow

    monkeypatch.setattr(uow, "_writer", dataclasses.replace(uow._writer, append_many=broken))
    with pytest.raises(RuntimeError):
        gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=[photos["plain"].pk])


@pytest.mark.parametrize("purpose", [purposes.ADVERTISING, purposes.MODEL_TRAINING, "marketing", gateway.PURPOSE_OWNER])
def test_it_denies_refused_and_unknown_purposes_and_audits_the_denial(photos, consented, purpose):
    grant(consented, purposes.FACE_ANALYSIS)
    with pytest.raises(gateway.GatewayDenied) as caught:
        gateway.release(user_id=consented.pk, purpose=purpose, item_ids=[photos["plain"].pk])
    assert caught.value.code == "purpose_not_grantable" and caught.value.status == 403
    with pytest.raises(gateway.GatewayDenied):
        gateway.candidates(user_id=consented.pk, purpose=purpose)
    denials = AuditEvent.objects.filter(outcome="denied", subject_id=consented.pk)
    assert {e.action for e in denials} == {"media.read", "media.listed"}
    assert all(e.details["code"] == "purpose_not_grantable" for e in denials)
    if purpose in purposes.REFUSED:
        assert {e.purpose for e in denials} == {purpose}
    assert not AuditEvent.objects.filter(action="media.read", outcome="allowed").exists()


def test_it_releases_nothing_without_consent_or_after_withdrawal(photos, consented):
    released = gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=[photos["plain"].pk])
    assert len(released) == 1
    withdraw(consented)
    with pytest.raises(gateway.GatewayDenied) as caught:
        gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=[photos["plain"].pk])
    assert caught.value.code == "consent_required"
    with pytest.raises(gateway.GatewayDenied):
        gateway.candidates(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS)


def test_it_releases_nothing_during_a_withdrawal_grace_period(photos, consented, settings):
    settings.WITHDRAWAL_GRACE_DAYS = 30
    withdraw(consented)
    assert MediaItem.objects.filter(owner=consented).count() == 3  # kept for the grace period...
    with pytest.raises(gateway.GatewayDenied):  # ...but out of reach at once
        gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=[photos["plain"].pk])


def test_it_needs_face_analysis_consent_for_face_grouping(photos, consented):
    with pytest.raises(gateway.GatewayDenied) as caught:
        gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_FACES, item_ids=[photos["plain"].pk])
    assert caught.value.code == "consent_required"
    grant(consented, purposes.FACE_ANALYSIS)
    assert len(gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_FACES, item_ids=[photos["plain"].pk])) == 1
    withdraw(consented, purposes.FACE_ANALYSIS)
    with pytest.raises(gateway.GatewayDenied):
        gateway.candidates(user_id=consented.pk, purpose=gateway.PURPOSE_FACES)
    assert gateway.candidates(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS)


def test_it_never_releases_an_excluded_item(photos, consented):
    services.media_set_excluded(user_id=consented.pk, item_id=photos["plain"].pk, excluded=True)
    all_ids = [p.pk for p in photos.values()]
    released = gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=all_ids)
    assert photos["plain"].pk not in ids(released)
    assert photos["plain"].pk not in ids(gateway.candidates(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS))
    assert not AuditEvent.objects.filter(action="media.read", object_id=str(photos["plain"].pk)).exists()


def test_it_never_releases_an_item_inside_an_excluded_date_range(photos, consented):
    services.exclusion_create_date_range(user_id=consented.pk, start=date(2024, 8, 1), end=date(2024, 8, 3))
    all_ids = [p.pk for p in photos.values()]
    released = ids(gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=all_ids))
    assert released == sorted([photos["nice"].pk, photos["plain"].pk])  # the last day is inclusive


def test_it_never_releases_an_item_taken_inside_an_excluded_place(photos, consented):
    services.exclusion_create_place(
        user_id=consented.pk, name="Home", lat=MONACO[0] + 0.001, lon=MONACO[1], radius_m=500
    )
    all_ids = [p.pk for p in photos.values()]
    released = ids(gateway.release(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=all_ids))
    assert released == sorted([photos["nice"].pk, photos["plain"].pk])
    # 13 km away is outside a 10 km radius around Monaco, inside a 15 km one.
    services.exclusion_create_place(user_id=consented.pk, name="Ten", lat=MONACO[0], lon=MONACO[1], radius_m=10_000)
    assert photos["nice"].pk in ids(gateway.candidates(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS))
    services.exclusion_create_place(user_id=consented.pk, name="Fifteen", lat=MONACO[0], lon=MONACO[1], radius_m=15_000)
    assert ids(gateway.candidates(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS)) == [photos["plain"].pk]


def test_it_never_releases_another_accounts_items(photos, consented, bob):
    grant(bob)
    all_ids = [p.pk for p in photos.values()]
    released = gateway.release(user_id=bob.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=all_ids)
    assert released == []


def test_it_stores_an_output_with_lineage_and_opens_it_for_the_owner(photos, consented):
    sources = [photos["monaco"].pk, photos["nice"].pk]
    output_id = gateway.output_store(
        user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage", source_ids=sources,
        data=b"collage-bytes", content_type="image/jpeg",
    )
    output = DerivedOutput.objects.get(pk=output_id)
    assert sorted(output.sources.values_list("pk", flat=True)) == sources
    assert gateway.output_open(user_id=consented.pk, output_id=output_id) == b"collage-bytes"
    assert AuditEvent.objects.filter(action="output.stored", object_id=str(output_id)).exists()
    assert AuditEvent.objects.filter(action="output.read", object_id=str(output_id)).exists()
    with pytest.raises(Exception) as caught:
        gateway.output_open(user_id=consented.pk + 1000, output_id=output_id)
    assert caught.value.code == "not_found"


def test_it_discards_an_output_whose_consent_went_meanwhile(photos, consented, tmp_path):
    withdraw(consented)
    with pytest.raises(gateway.GatewayDenied):
        gateway.output_store(
            user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage",
            source_ids=[photos["plain"].pk], data=b"late", content_type="image/jpeg",
        )
    assert not DerivedOutput.objects.exists()
    assert not [p for p in (tmp_path / "blobs").rglob("*.output")]


def test_it_discards_an_output_whose_source_was_excluded_or_deleted(photos, consented, tmp_path):
    services.media_set_excluded(user_id=consented.pk, item_id=photos["plain"].pk, excluded=True)
    services.media_delete(user_id=consented.pk, item_id=photos["nice"].pk)
    for source in (photos["plain"].pk, photos["nice"].pk):
        with pytest.raises(gateway.GatewayDenied):
            gateway.output_store(
                user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage",
                source_ids=[photos["monaco"].pk, source], data=b"x", content_type="image/jpeg",
            )
    assert not DerivedOutput.objects.exists()
    assert not [p for p in (tmp_path / "blobs").rglob("*.output")]


@pytest.mark.parametrize("how", ["delete", "exclude", "date_range", "place", "withdraw"])
def test_it_deletes_outputs_when_a_source_goes(photos, consented, how, django_capture_on_commit_callbacks, tmp_path):
    output_id = gateway.output_store(
        user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="recap",
        source_ids=[photos["monaco"].pk, photos["plain"].pk], data=b"recap", content_type="image/webp",
    )
    keep = gateway.output_store(
        user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="stylized",
        source_ids=[photos["nice"].pk], data=b"other", content_type="image/jpeg",
    )
    with django_capture_on_commit_callbacks(execute=True):
        if how == "delete":
            services.media_delete(user_id=consented.pk, item_id=photos["monaco"].pk)
        elif how == "exclude":
            services.media_set_excluded(user_id=consented.pk, item_id=photos["monaco"].pk, excluded=True)
        elif how == "date_range":
            services.exclusion_create_date_range(user_id=consented.pk, start=date(2024, 8, 3), end=date(2024, 8, 3))
        elif how == "place":
            services.exclusion_create_place(user_id=consented.pk, name="", lat=MONACO[0], lon=MONACO[1], radius_m=100)
        else:
            withdraw(consented)
    assert not DerivedOutput.objects.filter(pk=output_id).exists()
    assert DerivedOutput.objects.filter(pk=keep).exists() == (how != "withdraw")
    assert len(list((tmp_path / "blobs").rglob("*.output"))) == (0 if how == "withdraw" else 1)


def test_it_deletes_face_outputs_when_face_analysis_is_withdrawn(photos, consented):
    grant(consented, purposes.FACE_ANALYSIS)
    face = gateway.output_store(user_id=consented.pk, purpose=gateway.PURPOSE_FACES, kind="collage",
                                source_ids=[photos["plain"].pk], data=b"f", content_type="image/jpeg")
    other = gateway.output_store(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage",
                                 source_ids=[photos["plain"].pk], data=b"o", content_type="image/jpeg")
    withdraw(consented, purposes.FACE_ANALYSIS)
    assert list(DerivedOutput.objects.values_list("pk", flat=True)) == [other]
    assert face != other


def test_it_lets_the_owner_delete_an_output(photos, consented):
    output_id = gateway.output_store(user_id=consented.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage",
                                     source_ids=[photos["plain"].pk], data=b"o", content_type="image/jpeg")
    gateway.output_delete(user_id=consented.pk, output_id=output_id)
    assert not DerivedOutput.objects.exists()
