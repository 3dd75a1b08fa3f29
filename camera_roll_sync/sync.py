"""The sync engine: scan the camera roll, then upload what is waiting in batches, only while consent is on.

Before each batch the server is asked whether Camera Roll Sharing Suggestions is on. A
withdrawal seen there, or a `403 consent_required` on any upload, halts at once: uploads not
yet sent are not sent, the queue is dropped, and the files stay `waiting` in the state (they
go again only if the holder turns the feature back on while they are still recent).
"""

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from camera_roll_sync import media
from camera_roll_sync.api import (
    FILE_CHANGED,
    Api,
    ApiError,
    Backoff,
    Uploaded,
    UploadUrls,
    upload_resumable,
    with_retries,
)
from camera_roll_sync.state import REFUSED, SKIPPED, UPLOADED, WAITING, FileRow, State

# The server's answers about the file itself: it will never be accepted, so it is not retried.
FILE_REFUSALS = {"invalid_image", "unsupported_media_type", "file_too_large", "image_too_large", "invalid_request",
                 "invalid_video", "video_too_long", "video_too_large", "video_probe_failed"}
SETTLE_SECONDS = 2.0  # a file modified this recently may still be being written by the camera


class AuthFailed(Exception):
    """The token was refused (revoked, or the account is gone): log in again."""


class MalformedAnswer(Exception):
    """The server answered something that is not what its API documents: nothing more is sent."""


@dataclass
class PassResult:
    uploaded: int = 0
    already_on_server: int = 0
    refused: int = 0
    waiting: int = 0  # left waiting after this pass
    stopped: str | None = None  # "consent_off", "unreachable", "interrupted"
    dropped: int = 0  # queued files not sent because consent went
    errors: list[str] = field(default_factory=list)


@dataclass
class Options:
    days: int = 30
    excludes: tuple[str, ...] = media.DEFAULT_EXCLUDES
    batch_size: int = 8
    jobs: int = 2
    progress: bool | None = None  # None: a bar when stderr is a terminal
    backoff: Backoff = field(default_factory=Backoff)


class Syncer:
    def __init__(self, *, api: Api, state: State, root: Path, options: Options | None = None,
                 say: Callable[[str], None] = print, on_uploaded: Callable[[FileRow, Uploaded], None] | None = None,
                 sleep: Callable[[float], None] | None = None, witness: Callable[[], object] | None = None):
        self.api = api
        self.state = state
        self.root = root.resolve()
        self.options = options or Options()
        self.say = say
        self.on_uploaded = on_uploaded
        self.sleep = sleep
        self.witness = witness  # checks the access history first; raises to stop all uploads
        self.stopping = threading.Event()  # set from outside (a signal): finish nothing new, return
        self._halt = threading.Event()  # set inside a pass: send nothing more in this pass
        self._halt_reason: str | None = None
        self._halt_lock = threading.Lock()
        self._malformed: str | None = None  # the first nonsense answer's message
        self._consent_renewed = False

    def stop(self) -> None:
        """Finish what is in flight, send nothing new, cut any wait short (a signal, Ctrl-C)."""
        self.stopping.set()
        self._halt_with("interrupted")

    # scanning ------------------------------------------------------------------------------
    def scan(self, now: datetime | None = None) -> list[FileRow]:
        """Look at every file once; hash and read only new or changed ones. Returns what waits, newest first."""
        now = now or datetime.now()
        seen: set[str] = set()
        for path, place_reason in media.walk(self.root, self.options.excludes):
            key = str(path)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            seen.add(key)
            row = self.state.get(key)
            if place_reason:
                if row is None or row.status != SKIPPED or row.reason != place_reason:
                    self.state.put(FileRow(key, st.st_size, st.st_mtime_ns, None, None, False, [], False,
                                           SKIPPED, place_reason))
                continue
            if row is None or row.size != st.st_size or row.mtime_ns != st.st_mtime_ns or row.sha256 is None:
                if now.timestamp() - st.st_mtime < SETTLE_SECONDS:
                    continue  # still being written: next pass
                info = media.read_info(path)
                try:
                    sha = media.sha256_of(path)
                except OSError:
                    continue
                row = FileRow(key, st.st_size, st.st_mtime_ns, sha, info.captured_at.isoformat(),
                              info.from_file_time, info.labels, info.screenshot, WAITING, "")
                self.state.put(row)
            status, reason = self._classify(row, now)
            if (status, reason) != (row.status, row.reason):
                self.state.set_status(key, status, reason)
        self.state.forget_missing(seen)
        return self.state.waiting()

    def _classify(self, row: FileRow, now: datetime) -> tuple[str, str]:
        if row.status == UPLOADED:
            return row.status, row.reason
        if row.status == REFUSED:
            return row.status, row.reason
        if self.state.uploaded(row.sha256):
            return UPLOADED, "same_content"
        if row.screenshot:
            return SKIPPED, "screenshot"
        if not media.is_recent(datetime.fromisoformat(row.captured_at), days=self.options.days, now=now):
            return SKIPPED, "old"
        return WAITING, ""

    # uploading -----------------------------------------------------------------------------
    def sync_once(self) -> PassResult:
        """One pass: scan, then upload in batches while consent is on."""
        result = PassResult()
        if self.stopping.is_set():
            result.stopped = "interrupted"
            return result
        self._halt.clear()
        self._halt_reason = None
        if self.witness is not None:
            self._witness()
        queue = deque(self.scan())
        if not queue and not self.state.upload_count():
            return result  # nothing to send, nothing sent: no need to ask
        bar = tqdm(total=len(queue), unit="photo", desc="uploading", disable=self._no_bar(), leave=False)
        try:
            while True:
                if self.stopping.is_set():
                    result.stopped = "interrupted"
                    break
                # Asked even when nothing waits: a withdrawal since our uploads means they are gone.
                if not self._consent_on():
                    result.stopped = self._halt_reason or "consent_off"
                    break
                if self._consent_renewed:
                    self._consent_renewed = False
                    queue = deque(self.scan())
                    bar.total = bar.n + len(queue)
                if not queue:
                    break
                batch = [queue.popleft() for _ in range(min(self.options.batch_size, len(queue)))]
                with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
                    outcomes = list(pool.map(self._upload_one, batch))
                for outcome in outcomes:
                    if outcome == "uploaded":
                        result.uploaded += 1
                    elif outcome == "already_on_server":
                        result.already_on_server += 1
                    elif outcome == "refused":
                        result.refused += 1
                    elif outcome in ("not_sent", "consent_required"):
                        result.dropped += 1
                    if outcome in ("uploaded", "already_on_server", "refused", "same_content"):
                        bar.update(1)
                if self._halt.is_set():
                    result.stopped = self._halt_reason
                    break
        finally:
            bar.close()
        if result.stopped == "consent_off":
            result.dropped += len(queue)
            queue.clear()  # dropped: nothing queued survives a withdrawal
        if result.stopped == "auth_failed":
            raise AuthFailed("The server refused this device's token; log in again.")
        if result.stopped == "malformed":
            raise MalformedAnswer(self._malformed or "The server's answer made no sense; nothing more is sent.")
        result.waiting = self.state.counts().get(WAITING, 0)
        self.state.set_meta("last_pass", datetime.now().astimezone().isoformat(timespec="seconds"))
        return result

    def _witness(self) -> None:
        """The holder's access history, checked before anything is sent (HistoryNotVerified stops the run)."""
        try:
            self.witness()
        except ApiError as exc:
            if exc.malformed:
                raise MalformedAnswer(exc.message) from None
            raise AuthFailed("The server refused this device's token; log in again.") from None

    def _no_bar(self) -> bool | None:
        if self.options.progress is None:
            return None  # tqdm: no bar when not a terminal
        return not self.options.progress

    def _halt_with(self, reason: str) -> None:
        with self._halt_lock:
            if self._halt_reason is None:
                self._halt_reason = reason
            self._halt.set()

    def _consent_on(self) -> bool:
        try:
            state = with_retries(self.api.consent, backoff=self.options.backoff, stop=self.stopping,
                                 sleep=self.sleep, on_wait=self._waiting)
        except ApiError as exc:
            if exc.malformed:
                self._halt_malformed(exc)
            elif exc.status == 401:
                self._halt_with("auth_failed")
            elif exc.transient:
                self._halt_with("interrupted" if self.stopping.is_set() else "unreachable")
            else:
                self._halt_with("error")
            return False
        self._note_consent(state.granted)
        if not state.granted:
            self._halt_with("consent_off")
            return False
        previous = self.state.meta("consent_since")
        if state.since and previous != state.since:
            self.state.set_meta("consent_since", state.since)
            if previous is not None and self.state.upload_count():
                # Turned off and on again since our uploads: the server shredded them at the withdrawal.
                # Recent photos go again; the server's duplicate answer settles any it still holds.
                self.state.forget_uploads()
                self._consent_renewed = True
                self.say("Camera Roll Sharing Suggestions was turned off and on again: recent photos go again.")
        return True

    def _halt_malformed(self, exc: ApiError) -> None:
        with self._halt_lock:
            self._malformed = self._malformed or exc.message
        self._halt_with("malformed")

    def _note_consent(self, granted: bool) -> None:
        self.state.set_meta("consent", "on" if granted else "off")
        self.state.set_meta("consent_checked", datetime.now().astimezone().isoformat(timespec="seconds"))

    def _waiting(self, error: ApiError, seconds: float) -> None:
        what = "throttled (429)" if error.status == 429 else (error.message if error.status == 0 else
                                                              f"server error {error.status}")
        self.say(f"{what}; trying again in {seconds:.1f} s")

    def _upload_one(self, row: FileRow) -> str:
        if self._halt.is_set() or self.stopping.is_set():
            return "not_sent"
        if self.state.uploaded(row.sha256):
            self.state.set_status(row.path, UPLOADED, "same_content")
            return "same_content"
        path = Path(row.path)
        if media.is_video(path):
            return self._upload_video(row, path)
        try:
            data = path.read_bytes()
        except OSError:
            return "gone"
        if hashlib.sha256(data).hexdigest() != row.sha256:
            self.state.set_status(row.path, WAITING, "changed")
            return "changed"  # edited since the scan: the next pass reads it again

        def send():
            if self._halt.is_set():  # consent went while this one waited to retry
                raise ApiError(0, "halted", "halted")
            # No capture time is sent: the server reads it from the photo itself, and a photo without one
            # has none. The file's modification time is when it was copied, not when it was taken, and
            # sending it made the service date (and title) photos with the day of the copy.
            return self.api.upload(filename=path.name, data=data, labels=row.labels, captured_at=None)

        return self._send_and_record(row, send)

    def _upload_video(self, row: FileRow, path: Path) -> str:
        """A video goes as a resumable upload (tus), read a piece at a time, never whole in memory; consent
        is asked before each batch as for photos, and a withdrawal seen by another upload stops this one
        before its next piece (mid-request: the connection is dropped, and the server keeps what came)."""
        try:
            if media.sha256_of(path) != row.sha256:
                self.state.set_status(row.path, WAITING, "changed")
                return "changed"
        except OSError:
            return "gone"

        def send():
            if self._halt.is_set():
                raise ApiError(0, "halted", "halted")
            answer = upload_resumable(self.api, path=path, urls=UploadUrls(self.state), halt=self._halt)
            if answer is None:
                raise ApiError(0, "halted", "halted")
            return answer

        return self._send_and_record(row, send)

    def _send_and_record(self, row: FileRow, send) -> str:
        """Sends (a photo or a video) with retries, then records the answer as it arrives."""
        try:
            answer = with_retries(send, backoff=self.options.backoff, stop=self._halt, sleep=self.sleep,
                                  on_wait=self._waiting)
        except ApiError as exc:
            return self._refusal(row, exc)
        self.state.record_upload(path=row.path, sha256=row.sha256, media_id=answer.media_id,
                                 duplicate=answer.duplicate)
        if self.on_uploaded is not None:
            self.on_uploaded(row, answer)
        return "already_on_server" if answer.duplicate else "uploaded"

    def _refusal(self, row: FileRow, exc: ApiError) -> str:
        if exc.code == "halted":
            return "not_sent"
        if exc.code == FILE_CHANGED:
            # Shrank or went away while it was being sent: the next scan reads it again (or forgets it).
            self.state.set_status(row.path, WAITING, "changed")
            return "changed"
        if exc.malformed:
            # Not retried, not recorded as uploaded: the photo stays waiting, and the pass stops.
            self._halt_malformed(exc)
            return "malformed"
        if exc.code == "consent_required":
            self._halt_with("consent_off")
            return "consent_required"
        if exc.status == 401:
            self._halt_with("auth_failed")
            return "auth_failed"
        if exc.code in FILE_REFUSALS or exc.status in (413, 415):
            self.state.set_status(row.path, REFUSED, exc.code)
            self.say(f"{Path(row.path).name}: refused by the server ({exc.code}: {exc.message})")
            return "refused"
        if exc.transient:
            self._halt_with("interrupted" if self.stopping.is_set() else "unreachable")
            return "unreachable"
        self._halt_with("error")
        self.say(f"{Path(row.path).name}: {exc}")
        return "error"

    def run_forever(self, *, interval: float = 10.0) -> None:
        """Watch the folder by polling: a pass every `interval` seconds until `stopping` is set."""
        was_on: bool | None = None
        while not self.stopping.is_set():
            result = self.sync_once()
            on = result.stopped != "consent_off"
            if result.stopped == "consent_off" and was_on is not False:
                self.say(stopped_message(result))
            elif result.uploaded or result.already_on_server:
                self.say(pass_message(result))
            if result.stopped == "unreachable":
                self.say("The server is not answering; trying again later.")
            if on and was_on is False:
                self.say("Camera Roll Sharing Suggestions is on again: uploading.")
            was_on = on
            self.stopping.wait(interval)


def stopped_message(result: PassResult) -> str:
    done = f" after {result.uploaded} photo{'s' if result.uploaded != 1 else ''}" if result.uploaded else ""
    left = (f" {result.waiting} waiting here; they go only if it is turned on again." if result.waiting else "")
    return f"Camera Roll Sharing Suggestions is off: uploading stopped{done}.{left}"


def pass_message(result: PassResult) -> str:
    parts = [f"{result.uploaded} uploaded"]
    if result.already_on_server:
        parts.append(f"{result.already_on_server} already on the server")
    if result.refused:
        parts.append(f"{result.refused} refused by the server")
    parts.append(f"{result.waiting} waiting")
    return ", ".join(parts) + "."
