"""The embedded default's files are the running user's alone: var/ 0700, the SQLite database
(and its -wal and -shm files) 0600, whatever the umask (a red-team finding: it was 0644)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OPEN_THE_DATABASE = (
    "import django; django.setup(); from django.db import connection; "
    "cursor = connection.cursor(); cursor.execute('CREATE TABLE IF NOT EXISTS probe (a)'); "
    "cursor.execute('INSERT INTO probe VALUES (1)')"
)


def run_development(var_dir: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "VAR_DIR"}}
    env.update(DJANGO_ENV="development", VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="consentsvc.settings")
    subprocess.run(
        [sys.executable, "-c", OPEN_THE_DATABASE], cwd=ROOT, env=env, check=True, timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_creates_var_and_the_database_for_this_user_only(tmp_path):
    var_dir = tmp_path / "fresh" / "var"
    run_development(var_dir)
    assert mode(var_dir) == 0o700
    assert mode(var_dir.parent) == 0o700  # a parent made for it too
    assert mode(var_dir / "db.sqlite3") == 0o600
    assert mode(var_dir / "keys") == 0o700
    for sidecar in ("db.sqlite3-wal", "db.sqlite3-shm"):
        if (var_dir / sidecar).exists():
            assert mode(var_dir / sidecar) == 0o600, sidecar


def test_it_closes_a_database_file_left_world_readable(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir(mode=0o755)
    var_dir.chmod(0o755)
    database = var_dir / "db.sqlite3"
    database.touch()
    database.chmod(0o644)
    run_development(var_dir)
    assert mode(var_dir) == 0o700
    assert mode(database) == 0o600


def blob_folders(location: Path) -> dict[str, int]:
    return {str(folder.relative_to(location.parent)): mode(folder)
            for folder in [location, *location.rglob("*")] if folder.is_dir()}


def write_blob(name: str) -> None:
    from vault.storage import blob_write

    previous = os.umask(0o022)
    try:
        blob_write(name=name, chunks=[b"ciphertext"])
    finally:
        os.umask(previous)


def test_blob_folders_are_this_users_only_whatever_the_umask(settings):
    """var/blobs and every folder under it 0700, the blobs 0600 (a red-team finding: the folders
    above each key's folder were 0755)."""
    location = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    write_blob("vault/7/0123456789abcdef0123456789abcdef/fedcba9876543210fedcba9876543210.orig")
    write_blob("vault/7/0123456789abcdef0123456789abcdef/00000000000000000000000000000001.thumb")
    folders = blob_folders(location)
    assert folders == {"blobs": 0o700, "blobs/vault": 0o700, "blobs/vault/7": 0o700,
                       "blobs/vault/7/0123456789abcdef0123456789abcdef": 0o700}
    assert {mode(blob) for blob in location.rglob("*.orig")} | {mode(b) for b in location.rglob("*.thumb")} == {0o600}


def test_it_closes_blob_folders_an_earlier_version_left_open(settings):
    location = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    open_folder = location / "vault" / "8" / "abcdefabcdefabcdefabcdefabcdefab"
    open_folder.mkdir(parents=True)
    for folder in (location, location / "vault", location / "vault" / "8", open_folder):
        folder.chmod(0o755)
    write_blob("vault/8/abcdefabcdefabcdefabcdefabcdefab/00000000000000000000000000000002.orig")
    assert set(blob_folders(location).values()) == {0o700}
