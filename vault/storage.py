"""Where encrypted blobs live: Django's default storage, written atomically.

Only ciphertext passes through here. Names are ``vault/<account>/<key id>/<uid>.<variant>``
so that shredding one account key can remove exactly its blobs (and any orphan a
crash left behind) by walking one folder.

On S3-compatible storage (django-storages' S3Storage) blobs are written by boto3's managed
transfer fed straight from the cipher (a multipart upload above one part), read from the
response body as it arrives and deleted a thousand keys per request, so a blob of any size
takes one part's worth of memory and the whole object appears only when its upload completes.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

READ_BYTES = 1024 * 1024
ROOT = "vault"
# S3 parts are at least 5 MiB (except the last); a blob smaller than one part is one PUT.
S3_PART_BYTES = 8 * 1024 * 1024
S3_DELETE_BATCH = 1000


def blob_storage() -> Storage:
    return storages["default"]


def _s3(storage: Storage):
    """The storage if it is django-storages' S3Storage (imported lazily: boto3 is slow to load)."""
    if isinstance(storage, FileSystemStorage):
        return None
    from storages.backends.s3 import S3Storage

    return storage if isinstance(storage, S3Storage) else None


def _s3_key(storage, name: str) -> str:
    from storages.utils import clean_name

    # The storage's own mapping from a name to a key (it adds the configured location).
    return storage._normalize_name(clean_name(name))


def _s3_missing(error) -> bool:
    return error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


def key_folder(*, user_id: int, key_id: uuid.UUID) -> str:
    return f"{ROOT}/{int(user_id)}/{key_id.hex}"


def account_folder(*, user_id: int) -> str:
    return f"{ROOT}/{int(user_id)}"


# Data exports live under their own root, outside ROOT, so that the media orphan sweep (which
# knows only items and outputs) never mistakes a waiting export for an orphan (see vault.exports).
EXPORTS_ROOT = "exports"


def exports_folder(*, user_id: int) -> str:
    return f"{EXPORTS_ROOT}/{int(user_id)}"


def blob_name(*, user_id: int, key_id: uuid.UUID, object_uid: uuid.UUID, variant: str) -> str:
    return f"{key_folder(user_id=user_id, key_id=key_id)}/{object_uid.hex}.{variant}"


def blob_write(*, name: str, chunks: Iterable[bytes], atomic: bool = True) -> int:
    """Store the blob so that it appears whole or not at all; return its size in bytes.

    ``atomic=False`` is for a blob that nothing reads until a database row that commits after
    this returns names it (a resumable upload's segment): on a file system it is then written
    under its own name, with no temporary file to rename, so that the fsyncs before it counts
    commit only its data and its creation. Durable all the same when this returns; a crash
    before that can leave it under its name, incomplete, counted by no row (an orphan for the
    sweep). On object stores both are the same upload."""
    storage = blob_storage()
    if isinstance(storage, FileSystemStorage):
        if not atomic:
            return _write_file_in_place(storage, name, chunks)
        return _write_file_atomically(storage, name, chunks)
    if (s3 := _s3(storage)) is not None:
        return _write_object(s3, name, chunks)
    # Object stores (S3 and the like) publish an object only once its upload has
    # completed, so a spooled upload of the ciphertext is already atomic.
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as spool:
        size = 0
        for chunk in chunks:
            spool.write(chunk)
            size += len(chunk)
        spool.seek(0)
        saved = storage.save(name, File(spool, name=os.path.basename(name)))
    if saved != name:
        storage.delete(saved)
        raise FileExistsError(f"blob {name} already exists")
    return size


def _private_folders(storage: FileSystemStorage, folder: str) -> None:
    """Make ``folder`` and every folder between it and the storage's root (the root included)
    this user's alone, 0700: created so when missing (os.makedirs gives the parents it creates
    the umask's 0755) and closed when an earlier version left them open."""
    root = os.path.abspath(storage.location)
    relative = os.path.relpath(folder, root)
    current = root
    for part in ["", *relative.split(os.sep)]:
        current = os.path.join(current, part) if part else current
        try:
            mode = os.stat(current).st_mode
        except FileNotFoundError:
            # exist_ok: another writer made it first; parents: only the root's can be missing.
            os.makedirs(current, 0o700, exist_ok=True)
            mode = os.stat(current).st_mode
        if mode & 0o077:
            os.chmod(current, 0o700)


# sync_file_range(2)'s SYNC_FILE_RANGE_WRITE: start writing these pages back, without waiting.
_SYNC_FILE_RANGE_WRITE = 2
# Written bytes between two such starts.
WRITEBACK_BYTES = 1024 * 1024


@functools.cache
def _sync_file_range():
    """Linux's sync_file_range, or None where the C library has none (the final fsync does it all)."""
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return call


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the kernel start writing a range to disk now, while the next bytes are still coming
    (a request body, the cipher), so the fsync before the blob counts waits for the last range
    only. A hint: whatever it does or fails to do, the fsync still makes the whole file durable."""
    call = _sync_file_range()
    if call is not None:
        call(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _write_chunks(fd: int, handle, chunks: Iterable[bytes]) -> int:
    """Write the chunks to an open file, starting each megabyte's writeback as it is written, then
    fsync it; return the size."""
    size = started = 0
    for chunk in chunks:
        handle.write(chunk)
        size += len(chunk)
        if size - started >= WRITEBACK_BYTES:
            handle.flush()
            _start_writeback(fd, started, size - started)
            started = size
    handle.flush()
    os.fsync(fd)
    return size


def _fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write_file_in_place(storage: FileSystemStorage, name: str, chunks: Iterable[bytes]) -> int:
    """Create the file under its name (never over another), write, fsync it and its folder.

    Its mode is set before the data: after the file's fsync nothing of it changes, so the
    folder's fsync finds the creation already committed by the file's (on ext4 the one journal
    commit holds both) where a rename after it needed a commit of its own."""
    path = storage.path(name)
    folder = os.path.dirname(path)
    _private_folders(storage, folder)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        raise FileExistsError(f"blob {name} already exists") from None
    with _removed_on_error(path), os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, storage.file_permissions_mode or 0o600)
        size = _write_chunks(fd, handle, chunks)
    _fsync_folder(folder)
    return size


@contextlib.contextmanager
def _removed_on_error(path: str):
    """Removes the file being written if anything fails (a client gone, a full disk, a bad chunk):
    no half-written blob is left under a name."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise


def _write_file_atomically(storage: FileSystemStorage, name: str, chunks: Iterable[bytes]) -> int:
    path = storage.path(name)
    folder = os.path.dirname(path)
    _private_folders(storage, folder)
    if os.path.exists(path):
        raise FileExistsError(f"blob {name} already exists")
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
    with _removed_on_error(tmp_path):
        with os.fdopen(fd, "wb") as handle:
            size = _write_chunks(fd, handle, chunks)
        os.chmod(tmp_path, storage.file_permissions_mode or 0o600)
        os.replace(tmp_path, path)
    _fsync_folder(folder)
    return size


class _ChunkReader:
    """The cipher's chunks as a file object that boto3 reads one part at a time. Not seekable, so
    boto3's managed transfer holds one part at a time instead of the blob."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self.size = 0

    def read(self, amount: int = -1) -> bytes:
        # Exactly ``amount`` bytes until the end: a short read would make a part smaller than S3's minimum.
        while amount < 0 or len(self._buffer) < amount:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
            self.size += len(chunk)
        taken = len(self._buffer) if amount < 0 else min(amount, len(self._buffer))
        with memoryview(self._buffer) as view, view[:taken] as part:
            data = bytes(part)
        del self._buffer[:taken]
        return data


@functools.cache
def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    # One part in flight, in this thread: memory stays one part whatever the blob's size, as the
    # cipher produces the bytes no faster than one stream anyway. A blob under one part is one PUT.
    return TransferConfig(
        multipart_threshold=S3_PART_BYTES + 1, multipart_chunksize=S3_PART_BYTES, use_threads=False,
        preferred_transfer_client="classic",
    )


def _write_object(storage, name: str, chunks: Iterable[bytes]) -> int:
    """Upload to S3 with boto3's managed transfer, part by part as the bytes come; a failed
    multipart upload is aborted by it (nothing stored, no open upload left)."""
    client, bucket, key = storage.connection.meta.client, storage.bucket_name, _s3_key(storage, name)
    if blob_exists(name=name):
        raise FileExistsError(f"blob {name} already exists")
    source = _ChunkReader(chunks)
    client.upload_fileobj(source, bucket, key, ExtraArgs={"ContentType": "application/octet-stream"},
                          Config=_transfer_config())
    return source.size


def blob_read(*, name: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
    """The stored bytes from ``offset`` on (``length`` of them at most, or to the end), in pieces;
    the file is closed when the iterator ends or is closed. On S3 a read of part of a blob is a
    ranged GET: the bytes outside it are never sent."""
    storage = blob_storage()
    if (s3 := _s3(storage)) is not None:
        yield from _read_object(s3, name, offset, length)
        return
    left = -1 if length is None else length
    with storage.open(name, "rb") as handle:
        if offset:
            handle.seek(offset)
        while left and (chunk := handle.read(READ_BYTES if left < 0 else min(left, READ_BYTES))):
            left -= len(chunk) if left > 0 else 0
            yield chunk


def blob_size(*, name: str) -> int:
    """The stored blob's size in bytes; FileNotFoundError when there is none."""
    storage = blob_storage()
    if (s3 := _s3(storage)) is not None:
        from botocore.exceptions import ClientError

        try:
            return s3.connection.meta.client.head_object(Bucket=s3.bucket_name,
                                                         Key=_s3_key(s3, name))["ContentLength"]
        except ClientError as error:
            if _s3_missing(error):
                raise FileNotFoundError(name) from None
            raise
    return storage.size(name)


def _read_object(storage, name: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
    # S3Storage.open() downloads the whole object into memory before the first read;
    # the response body streams instead.
    from botocore.exceptions import ClientError

    if length == 0:
        return
    client = storage.connection.meta.client
    last = "" if length is None else str(offset + length - 1)
    ranged = {"Range": f"bytes={offset}-{last}"} if offset or length is not None else {}
    try:
        body = client.get_object(Bucket=storage.bucket_name, Key=_s3_key(storage, name), **ranged)["Body"]
    except ClientError as error:
        if _s3_missing(error):
            raise FileNotFoundError(name) from None
        raise
    try:
        yield from body.iter_chunks(READ_BYTES)
    finally:
        body.close()


def blob_exists(*, name: str) -> bool:
    return blob_storage().exists(name)


def blob_delete(*, name: str) -> None:
    blob_storage().delete(name)


def folder_delete(*, folder: str) -> int:
    """Delete every file under ``folder`` (recursively), then the emptied folders; return the count."""
    storage = blob_storage()
    if (s3 := _s3(storage)) is not None:
        return _delete_prefix(s3, folder)
    count = 0
    try:
        dirs, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for sub in dirs:
        count += folder_delete(folder=f"{folder}/{sub}")
    for filename in files:
        storage.delete(f"{folder}/{filename}")
        count += 1
    if isinstance(storage, FileSystemStorage):
        with contextlib.suppress(OSError):
            os.rmdir(storage.path(folder))
    return count


def _list_prefix(storage, folder: str) -> Iterator[tuple[str, str]]:
    """(name, key) of every object under ``folder``, one listing page at a time."""
    client = storage.connection.meta.client
    prefix = _s3_key(storage, folder).rstrip("/") + "/"
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=storage.bucket_name, Prefix=prefix, PaginationConfig={"PageSize": S3_DELETE_BATCH}
    ):
        for entry in page.get("Contents", ()):
            yield f"{folder}/{entry['Key'][len(prefix):]}", entry["Key"]


def _delete_prefix(storage, folder: str) -> int:
    client, bucket = storage.connection.meta.client, storage.bucket_name
    count = 0
    listed = _list_prefix(storage, folder)
    while batch := [{"Key": key} for _, key in itertools.islice(listed, S3_DELETE_BATCH)]:
        result = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if errors := result.get("Errors"):
            raise OSError(f"S3 refused to delete {len(errors)} objects under {folder}: {errors[0]}")
        count += len(batch)
    return count


def folder_prune(*, folder: str) -> None:
    """Remove ``folder`` if it is empty (file systems only; object stores have no folders)."""
    storage = blob_storage()
    if isinstance(storage, FileSystemStorage):
        with contextlib.suppress(OSError):
            os.rmdir(storage.path(folder))


def folder_list(*, folder: str) -> list[str]:
    """Every file name under ``folder``, recursively (for sweeps and erase checks)."""
    storage = blob_storage()
    if (s3 := _s3(storage)) is not None:
        return [name for name, _ in _list_prefix(s3, folder)]
    try:
        dirs, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = [f"{folder}/{filename}" for filename in files]
    for sub in dirs:
        names.extend(folder_list(folder=f"{folder}/{sub}"))
    return names
