"""A blob written to local storage is handed to the disk as it is written, not all at the fsync: a tus
PATCH's segment is then mostly on disk by the time its last byte arrives, and the fsync that must
come before its offset moves waits for the tail only."""

import os
import uuid

import pytest

from vault import content, services, storage

pytestmark = pytest.mark.django_db


def test_every_written_megabyte_starts_its_writeback_before_the_fsync(consented, monkeypatch):
    _, key = services.media_key(user_id=consented.pk)
    events = []
    start = storage._start_writeback
    fsync = os.fsync

    def recording_start(fd, offset, length):
        events.append(("writeback", offset, length))
        start(fd, offset, length)

    def recording_fsync(fd):
        events.append(("fsync",))
        fsync(fd)

    monkeypatch.setattr(storage, "_start_writeback", recording_start)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    plain = os.urandom(5 * 1024 * 1024 + 123)
    uid = uuid.uuid4()
    name, size = content.content_write(data_key=key, uid=uid, variant="original",
                                       chunks=[plain[i : i + 300_000] for i in range(0, len(plain), 300_000)])
    ranges = [event[1:] for event in events[: events.index(("fsync",))]]
    assert ranges and all(e == ("fsync",) for e in events[len(ranges) :])  # the file's, then its folder's
    assert ranges[0][0] == 0 and all(a[0] + a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert size - storage.WRITEBACK_BYTES < ranges[-1][0] + ranges[-1][1] <= size
    assert all(length >= storage.WRITEBACK_BYTES for _, length in ranges)
    assert content.content_read(data_key=key, uid=uid, variant="original") == plain
