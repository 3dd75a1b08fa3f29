"""A material notice makes consent lapse: processing stops at once, the library stays (invariant 4).

Three holders with photos; the notice changes materially. Nothing is destroyed at
publish; the gateway, uploads and suggestion passes refuse at once; each holder can
still open and list their own photos; the one who agrees again gets the very same
photos back to work; after LAPSE_GRACE_DAYS the other two are crypto-shredded by the
housekeeping job, one account per transaction, audited.
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from consent import purposes, selectors
from consent import services as consent_services
from consent.models import ConsentEntry
from core.errors import ServiceError
from suggestions import services as suggestion_services
from suggestions.models import SuggestionJob
from tests.conftest import make_user
from tests.vault.conftest import grant, jpeg_bytes
from vault import gateway, shredding
from vault import services as vault_services
from vault.models import AccountKey, MediaItem, ShredSchedule

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL


def blob_files() -> list[Path]:
    root = Path(django_settings.STORAGES["default"]["OPTIONS"]["location"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def holders(db):
    people = [make_user(name) for name in ("hana", "ivan", "jo")]
    for index, person in enumerate(people):
        grant(person)
        for shade in range(2):
            vault_services.media_upload(user_id=person.pk, data=jpeg_bytes(color=(40 * index, 90, 30 * shade)))
    return people


def publish_v2():
    return consent_services.notice_publish(purpose=CAMERA, version="2", title="Camera Roll Sharing Suggestions",
                                           text="What we do with your photos has changed.", material=True)


def test_it_destroys_nothing_at_publish_and_refuses_processing_at_once(holders):
    items_before = set(MediaItem.objects.values_list("pk", flat=True))
    keys_before = set(AccountKey.objects.values_list("key_id", flat=True))
    files_before = blob_files()
    assert len(items_before) == 6 and len(files_before) == 12

    publish_v2()

    assert set(MediaItem.objects.values_list("pk", flat=True)) == items_before
    assert set(AccountKey.objects.values_list("key_id", flat=True)) == keys_before
    assert blob_files() == files_before
    assert not AuditEvent.objects.filter(action="media.erased").exists()
    assert ConsentEntry.objects.filter(event="lapsed").count() == 3
    assert AuditEvent.objects.filter(action="consent.lapsed").count() == 3
    for person in holders:
        ids = list(MediaItem.objects.filter(owner=person).values_list("pk", flat=True))
        with pytest.raises(gateway.GatewayDenied) as denied:
            gateway.release(user_id=person.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=ids)
        assert denied.value.code == "consent_required"
        with pytest.raises(ServiceError) as refused:
            vault_services.media_upload(user_id=person.pk, data=jpeg_bytes(color=(1, 2, 3)))
        assert refused.value.code == "consent_required"
        result = suggestion_services.suggestions_generate(user_id=person.pk)
        assert result.status == SuggestionJob.Status.SKIPPED and result.error_code == "consent_required"
        # The holder still has their library: it is listed and every photo opens.
        assert selectors.consent_state(user_id=person.pk)[1].lapsed is True
        for item_id in ids:
            opened = gateway.owner_open(user_id=person.pk, item_id=item_id)
            assert b"".join(opened.chunks)[:2] == b"\xff\xd8"


def test_it_resumes_with_the_same_photos_when_the_holder_agrees_again(holders):
    hana = holders[0]
    ids = sorted(MediaItem.objects.filter(owner=hana).values_list("pk", flat=True))
    publish_v2()
    consent_services.consent_give(user=hana, purpose=CAMERA, notice_version="2", method="web")
    released = gateway.release(user_id=hana.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=ids)
    assert sorted(r.meta.id for r in released) == ids


def test_it_shreds_only_those_who_did_not_agree_again_after_the_grace(holders, settings):
    settings.LAPSE_GRACE_DAYS = 2
    settings.WITHDRAWAL_GRACE_DAYS = 0
    hana, ivan, jo = holders
    publish_v2()
    consent_services.consent_give(user=hana, purpose=CAMERA, notice_version="2", method="web")
    assert ShredSchedule.objects.filter(cause="lapse").count() == 3

    early = shredding.vault_purge_due(now=timezone.now() + timedelta(days=1))
    assert early["shredded"] == 0 and MediaItem.objects.count() == 6

    later = shredding.vault_purge_due(now=timezone.now() + timedelta(days=2, minutes=1))
    assert later == {"shredded": 2, "cancelled": 1, "expired_uploads": 0, "orphans": later["orphans"]}
    assert MediaItem.objects.filter(owner=hana).count() == 2
    assert not MediaItem.objects.filter(owner__in=[ivan, jo]).exists()
    assert not AccountKey.objects.filter(user__in=[ivan, jo], scope="media").exists()
    erased = AuditEvent.objects.filter(action="media.erased")
    assert sorted(e.subject_id for e in erased) == sorted([ivan.pk, jo.pk])
    assert {e.details["cause"] for e in erased} == {"lapse_grace_over"}


def test_it_finishes_an_interrupted_publish_when_run_again(holders):
    # The notice committed, then the process died before any lapse was recorded.
    from consent.models import Notice

    Notice.objects.create(purpose=CAMERA, version="2", title="t", text="changed", material=True,
                          sha256=consent_services.notice_hash(title="t", text="changed"), published_at=timezone.now())
    shredding.vault_purge_due()
    assert ConsentEntry.objects.filter(event="lapsed").count() == 3
    assert ShredSchedule.objects.filter(cause="lapse").count() == 3
    assert consent_services.consents_lapse(purpose=CAMERA) == 0
    assert MediaItem.objects.count() == 6


def test_the_publish_command_says_libraries_are_kept_and_when_they_are_shredded(tmp_path):
    from consent.management.commands.consent_publish_notice import Command

    assert "LAPSE_GRACE_DAYS" in Command.help and "kept" in Command.help
    text = tmp_path / "notice.txt"
    text.write_text("New words.", encoding="utf-8")
    call_command("consent_publish_notice", CAMERA, "9", str(text), "--title", "T")
    assert selectors.notice_current(purpose=CAMERA).version == "9"
