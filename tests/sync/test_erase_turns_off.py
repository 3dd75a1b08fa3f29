"""Erasing the cloud copies turns Camera Roll Sharing Suggestions off and leaves the phone signed in:
the phone then sees the feature off and uploads nothing until the holder turns it on again."""

import pytest

from camera_roll_sync import cli, config
from camera_roll_sync.state import State
from support import rights
from tests.sync.conftest import device_api, grant, make_photo
from tests.sync.test_live_sync import run_once
from vault.models import MediaItem

pytestmark = pytest.mark.django_db(transaction=True)


def test_after_an_erase_the_phone_stays_signed_in_sees_the_feature_off_and_stops(device, consenting_alice,
                                                                                  tmp_path, capsys):
    roll = tmp_path / "roll"
    for seed in range(2):
        make_photo(roll / f"IMG_{seed}.jpg", seed=800 + seed)
    assert run_once(device, roll) == cli.EXIT_OK
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 2

    counts = rights.cloud_media_erase(user=consenting_alice)
    assert counts["items"] == 2 and counts["turned_off"] == 1

    state = device_api(device).consent()  # the token still works: no 401, no "log in again"
    assert state.granted is False
    make_photo(roll / "IMG_9.jpg", seed=809)
    capsys.readouterr()
    assert run_once(device, roll) == cli.EXIT_CONSENT_OFF
    out = capsys.readouterr()
    assert "Camera Roll Sharing Suggestions is off" in out.out and "log in again" not in out.err
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 0  # nothing flowed back

    grant(consenting_alice)  # the holder turns it on again: the phone sends its recent photos again
    assert run_once(device, roll) == cli.EXIT_OK
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 3
    local = State(config.state_path(device))
    assert local.counts().get("waiting", 0) == 0
    local.close()
