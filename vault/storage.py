"""Where encrypted blobs live: Django's default storage, written atomically.

Only ciphertext passes through here. Names are ``vault/<account>/<key id>/<uid>.<variant>``
so that shredding one account key can remove exactly its blobs (and any orphan a
crash left behind) by walking one folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

READ_BYTES = 1024 * 1024
ROOT = "vault"


def blob_storage() -> Storage:
    return storages["default"]


def key_folder(*, user_id: int, key_id: uuid.UUID) -> str:
    return f"{ROOT}/{int(user_id)}/{key_id.hex}"


def account_folder(*, user_id: int) -> str:
    return f"{ROOT}/{int(user_id)}"


def blob_name(*, user_id: int, key_id: uuid.UUID, object_uid: uuid.UUID, variant: str) -> str:
    return f"{key_folder(user_id=user_id, key_id=key_id)}/{object_uid.hex}.{variant}"


def blob_write(*, name: str, chunks: Iterable[bytes]) -> int:
    """Store the blob so that it appears whole or not at all; return its size in bytes."""
    storage = blob_storage()
    if isinstance(storage, FileSystemStorage):
        return _write_file_atomically(storage, name, chunks)
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


def _write_file_atomically(storage: FileSystemStorage, name: str, chunks: Iterable[bytes]) -> int:
    path = storage.path(name)
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if os.path.exists(path):
        raise FileExistsError(f"blob {name} already exists")
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_path, storage.file_permissions_mode or 0o600)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return size


def blob_read(*, name: str) -> Iterator[bytes]:
    """The stored bytes in pieces; the file is closed when the iterator ends or is closed."""
    with blob_storage().open(name, "rb") as handle:
        while chunk := handle.read(READ_BYTES):
            yield chunk


def blob_exists(*, name: str) -> bool:
    return blob_storage().exists(name)


def blob_delete(*, name: str) -> None:
    blob_storage().delete(name)


def folder_delete(*, folder: str) -> int:
    """Delete every file under ``folder`` (recursively), then the emptied folders; return the count."""
    storage = blob_storage()
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


def folder_prune(*, folder: str) -> None:
    """Remove ``folder`` if it is empty (file systems only; object stores have no folders)."""
    storage = blob_storage()
    if isinstance(storage, FileSystemStorage):
        with contextlib.suppress(OSError):
            os.rmdir(storage.path(folder))


def folder_list(*, folder: str) -> list[str]:
    """Every file name under ``folder``, recursively (for sweeps and erase checks)."""
    storage = blob_storage()
    try:
        dirs, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = [f"{folder}/{filename}" for filename in files]
    for sub in dirs:
        names.extend(folder_list(folder=f"{folder}/{sub}"))
    return names
