"""Recaps take a few seconds of the moment's videos beside its photos, read through the gateway as
time ranges, each range audited; an excluded video stays out."""

import io

import av
import numpy as np
import pytest

from audit.models import AuditEvent
from suggestions import services
from suggestions.models import Suggestion
from tests.suggestions.conftest import COLOURS, a_day_out, grant, upload
from tests.vault.clips import clip_bytes
from vault import gateway
from vault.models import DerivedOutput

pytestmark = pytest.mark.django_db
WHITE = (255, 255, 255)  # no photo of the day is white


def white_frames(mp4: bytes) -> int:
    count = 0
    with av.open(io.BytesIO(mp4)) as container:
        for frame in container.decode(video=0):
            pixels = frame.to_ndarray(format="rgb24")
            if np.all(pixels.reshape(-1, 3).mean(axis=0) > 235):
                count += 1
    return count


def a_white_clip_that_saturday(user) -> int:
    data = clip_bytes(frames=60, rate=15, size=(96, 64), colour=WHITE,
                      metadata={"creation_time": "2025-06-14T11:05:00Z"})
    return upload(user, data)


def recap_of(user) -> DerivedOutput:
    recap = Suggestion.objects.get(owner=user, kind="recap")
    return DerivedOutput.objects.get(pk=recap.video_output_id)


def test_a_recap_contains_frames_from_a_video_of_the_day(alice):
    grant(alice)
    a_day_out(alice, COLOURS[:8])
    video_id = a_white_clip_that_saturday(alice)
    services.suggestions_generate(user_id=alice.pk)
    output = recap_of(alice)
    assert video_id in set(output.sources.values_list("id", flat=True))  # lineage names the video
    mp4 = gateway.output_open(user_id=alice.pk, output_id=output.pk)
    assert white_frames(mp4) >= 10  # a couple of seconds of the clip at 24 frames a second
    read = AuditEvent.objects.get(action="media.read", object_id=str(video_id))
    assert read.details["variant"] == "frames" and read.purpose == gateway.PURPOSE_SUGGESTIONS
    assert read.details["start_ms"] > 0  # taken away from the start
    assert read.details["duration_ms"] == services.RECAP_CLIP_MS


def test_an_excluded_video_stays_out_of_recaps(alice):
    from vault import services as vault_services

    grant(alice)
    a_day_out(alice, COLOURS[:8])
    video_id = a_white_clip_that_saturday(alice)
    vault_services.media_set_excluded(user_id=alice.pk, item_id=video_id, excluded=True)
    services.suggestions_generate(user_id=alice.pk)
    output = recap_of(alice)
    assert video_id not in set(output.sources.values_list("id", flat=True))
    assert white_frames(gateway.output_open(user_id=alice.pk, output_id=output.pk)) == 0
    assert not AuditEvent.objects.filter(action="media.read", object_id=str(video_id)).exists()


def test_the_gateway_releases_a_time_range_as_a_short_clip(alice):
    grant(alice)
    video_id = a_white_clip_that_saturday(alice)
    (released,) = gateway.release_ranges(user_id=alice.pk, purpose=gateway.PURPOSE_SUGGESTIONS,
                                         ranges=[(video_id, 1000, 1500)], as_clip=True, fps=10, max_side=64)
    assert released.clip[4:8] == b"ftyp" and white_frames(released.clip) >= 10
    for purpose in ("advertising", "model_training"):
        with pytest.raises(gateway.GatewayDenied):
            gateway.release_ranges(user_id=alice.pk, purpose=purpose, ranges=[(video_id, 0, 1000)])
    assert AuditEvent.objects.filter(action="media.read", object_id=str(video_id), details__variant="clip").exists()


def test_a_range_is_read_without_holding_the_video(alice):
    """The service's copy streams from storage into the box: reading two seconds of a clip does not
    take a copy of the whole clip in this process (it did: the copy was decrypted into memory)."""
    import tracemalloc

    from vault.models import MediaItem

    grant(alice)
    video_id = upload(alice, clip_bytes(frames=120, rate=15, size=(640, 480), noise=7,
                                        metadata={"creation_time": "2025-06-14T11:05:00Z"}))
    size = MediaItem.objects.get(pk=video_id).size
    assert size > 16 * 1024 * 1024
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        (released,) = gateway.release_ranges(user_id=alice.pk, purpose=gateway.PURPOSE_SUGGESTIONS,
                                             ranges=[(video_id, 1000, 1000)], fps=5, max_side=64)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(released.frames) >= 4
    assert peak < 8 * 1024 * 1024, (peak, size)  # a few pieces of a MiB in flight, whatever the size
