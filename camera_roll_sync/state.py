"""The client's memory, in SQLite beside the config file: what each file is, and what was uploaded.

`files` has one row per file seen (path, size, mtime, content hash, capture time, labels,
status). `uploads` has one row per content hash the server holds for this account, so a file
is never sent twice, even copied under another name; a row is written the moment the server
answers, and each write commits on its own, so a kill loses at most the answers in flight
(the server's duplicate answer settles those on the next run).
"""

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

UPLOADED = "uploaded"
WAITING = "waiting"
SKIPPED = "skipped"
REFUSED = "refused"  # the server refused the file itself (invalid image, too large, unsupported)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT,
    captured_at TEXT,
    from_file_time INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '[]',
    screenshot INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT PRIMARY KEY,
    media_id INTEGER NOT NULL,
    duplicate INTEGER NOT NULL,
    uploaded_at TEXT NOT NULL
);
"""


@dataclass
class FileRow:
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    captured_at: str | None
    from_file_time: bool
    labels: list[str]
    screenshot: bool
    status: str
    reason: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class State:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._lock = threading.Lock()
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # never readable by others, not even at first
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an upload recorded is an upload remembered
        self._db.executescript(SCHEMA)
        path.chmod(0o600)

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, params=()):
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # account -------------------------------------------------------------------------------
    def account(self) -> str | None:
        rows = self._run("SELECT value FROM meta WHERE key = 'account'")
        return rows[0][0] if rows else None

    def set_account(self, account: str) -> bool:
        """Bind the state to one account on one server; a different one starts from nothing. True if reset."""
        current = self.account()
        if current == account:
            return False
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM uploads")
            # Another account's access history is another log, under its own first checkpoint.
            self._db.execute("DELETE FROM meta WHERE key LIKE 'history\\_%' ESCAPE '\\'")
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('account', ?)", (account,))
            self._db.execute("COMMIT")
        return current is not None

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self._run("DELETE FROM meta WHERE key = ?", (key,))

    def meta(self, key: str) -> str | None:
        rows = self._run("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # files ---------------------------------------------------------------------------------
    def get(self, path: str) -> FileRow | None:
        rows = self._run(
            "SELECT path, size, mtime_ns, sha256, captured_at, from_file_time, labels, screenshot, status, reason"
            " FROM files WHERE path = ?", (path,))
        if not rows:
            return None
        r = rows[0]
        return FileRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), json.loads(r[6]), bool(r[7]), r[8], r[9])

    def put(self, row: FileRow) -> None:
        self._run(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256, captured_at, from_file_time, labels,"
            " screenshot, status, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.path, row.size, row.mtime_ns, row.sha256, row.captured_at, int(row.from_file_time),
             json.dumps(row.labels), int(row.screenshot), row.status, row.reason, _now()))

    def set_status(self, path: str, status: str, reason: str = "") -> None:
        self._run("UPDATE files SET status = ?, reason = ?, updated_at = ? WHERE path = ?",
                  (status, reason, _now(), path))

    def forget_missing(self, seen: set[str]) -> None:
        """Files deleted from the camera roll leave the waiting list (their uploads stay remembered)."""
        for (path,) in self._run("SELECT path FROM files"):
            if path not in seen:
                self._run("DELETE FROM files WHERE path = ?", (path,))

    def counts(self) -> dict[str, int]:
        return dict(self._run("SELECT status, COUNT(*) FROM files GROUP BY status"))

    def skip_reasons(self) -> dict[str, int]:
        return dict(self._run(
            "SELECT reason, COUNT(*) FROM files WHERE status IN ('skipped', 'refused') GROUP BY reason"))

    def waiting(self) -> list[FileRow]:
        paths = [p for (p,) in self._run(
            "SELECT path FROM files WHERE status = 'waiting' ORDER BY captured_at DESC, path")]
        return [row for row in map(self.get, paths) if row is not None]

    # uploads -------------------------------------------------------------------------------
    def uploaded(self, sha256: str) -> bool:
        return bool(self._run("SELECT 1 FROM uploads WHERE sha256 = ?", (sha256,)))

    def record_upload(self, *, path: str, sha256: str, media_id: int, duplicate: bool) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR IGNORE INTO uploads (sha256, media_id, duplicate, uploaded_at) VALUES (?, ?, ?, ?)",
                (sha256, media_id, int(duplicate), _now()))
            self._db.execute(
                "UPDATE files SET status = 'uploaded', reason = ?, updated_at = ? WHERE path = ?",
                ("already_on_server" if duplicate else "", _now(), path))
            self._db.execute("COMMIT")

    def forget_uploads(self) -> None:
        """The server no longer holds what was sent (consent went, and with it the cloud copies)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM uploads")
            self._db.execute("UPDATE files SET status = 'waiting', reason = '' WHERE status = 'uploaded'")
            self._db.execute("COMMIT")

    def upload_count(self) -> int:
        return self._run("SELECT COUNT(*) FROM uploads")[0][0]
