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


def _recorded(monkeypatch) -> list:
    """Every call that changes the folder or a file's metadata, and every fsync, in order."""
    events = []
    for call in ("fsync", "replace", "rename", "chmod", "fchmod", "unlink"):
        original = getattr(os, call)

        def recording(*args, _call=call, _original=original, **kwargs):
            events.append(_call)
            return _original(*args, **kwargs)

        monkeypatch.setattr(os, call, recording)
    return events


def test_a_segment_is_written_under_its_name_and_nothing_of_it_changes_after_its_fsync(consented, monkeypatch,
                                                                                       settings):
    """atomic=False (a resumable upload's segment): no temporary file renamed after the data's fsync,
    so the folder's fsync has no rename of its own to commit; the segment is durable, file and
    folder, when the write returns, and a name already taken is refused."""
    _, key = services.media_key(user_id=consented.pk)
    events = _recorded(monkeypatch)
    uid = uuid.uuid4()
    plain = os.urandom(2 * 1024 * 1024 + 5)
    name, _ = content.content_write(data_key=key, uid=uid, variant="partial", chunks=[plain], atomic=False)
    assert events == ["fchmod", "fsync", "fsync"]  # mode first, then the file's fsync, then the folder's
    path = storage.blob_storage().path(name)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(os.path.dirname(path))) == [os.path.basename(path)]  # no temporary file
    assert content.content_read(data_key=key, uid=uid, variant="partial") == plain
    with pytest.raises(FileExistsError):
        content.content_write(data_key=key, uid=uid, variant="partial", chunks=[b"other"], atomic=False)
    assert content.content_read(data_key=key, uid=uid, variant="partial") == plain


def test_a_segment_whose_write_fails_leaves_nothing(consented, monkeypatch):
    _, key = services.media_key(user_id=consented.pk)
    uid = uuid.uuid4()

    def failing():
        yield b"a" * 100_000
        raise OSError("the body broke")

    with pytest.raises(OSError, match="the body broke"):
        content.content_write(data_key=key, uid=uid, variant="partial", chunks=failing(), atomic=False)
    name = storage.blob_name(user_id=consented.pk, key_id=key.folder_key_id, object_uid=uid, variant="partial")
    assert not storage.blob_exists(name=name)
