import base64
import io
import os
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from consent import purposes
from consent import services as consent_services
from tests.vault.conftest import jpeg_bytes
from vault import services as vault_services
from vault.models import MediaItem

pytestmark = pytest.mark.django_db


def test_it_shreds_a_withdrawal_once_its_grace_period_is_over(alice, settings):
    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    settings.WITHDRAWAL_GRACE_DAYS = 2
    consent_services.consent_give(user=alice, purpose=purposes.CAMERA_ROLL, notice_version="1", method="api")
    vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes())
    consent_services.consent_withdraw(user=alice, purpose=purposes.CAMERA_ROLL, method="api")
    call_command("housekeeping", stdout=io.StringIO())
    assert MediaItem.objects.filter(owner=alice).count() == 1, "kept during the grace period"

    later = timezone.now() + timedelta(days=2, minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        out = io.StringIO()
        call_command("housekeeping", stdout=out)
    assert MediaItem.objects.filter(owner=alice).count() == 0
    assert "1 account(s) shredded" in out.getvalue()


def test_it_is_a_periodic_job_of_the_workers(settings):
    from consentsvc import housekeeping

    assert settings.JOBS_SCHEDULE["consentsvc.housekeeping.housekeeping"] == settings.HOUSEKEEPING_SECONDS
    assert housekeeping.housekeeping.module_path == "consentsvc.housekeeping.housekeeping"
    assert settings.JOBS_SCHEDULE["core.jobs.recover"] <= 30  # crashed jobs are taken back within a minute
