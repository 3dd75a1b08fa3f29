"""The few consentsvc HTTP calls the phone makes, on the standard library (urllib).

Every error the server sends has the shape {"error": {"code", "message"}}; it becomes an
ApiError carrying the stable code, so the sync engine switches on codes, never on text.
Transient failures (429, 5xx, a lost connection) are retried by `with_retries`.

Answers are read failing closed: only JSON `true` turns a setting on (a string "false", 1 or
null are off), and an answer that is not the shape the API documents (not JSON, a list where an
object belongs, an id that is not a number) is an ApiError with the code `malformed_answer`,
never retried and never guessed at.
"""

import functools
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

from camera_roll_sync import __version__

CAMERA_ROLL = "camera_roll_cloud_processing"
USER_AGENT = f"consentsvc-sync/{__version__}"
MALFORMED = "malformed_answer"
# Not the server's: the file shrank or went away while it was being sent. Not retried (the same
# bytes are not there to send again); the next scan reads the file again.
FILE_CHANGED = "file_changed"


class ApiError(Exception):
    """An answer the server gave (status and stable code), or no answer at all (status 0)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def malformed(self) -> bool:
        return self.code == MALFORMED

    @property
    def transient(self) -> bool:
        """Worth trying again: throttled, a server error, or no answer (connection lost, timeout)."""
        if self.code == FILE_CHANGED:
            return False
        return self.status in (0, 429) or self.status >= 500


@dataclass
class Uploaded:
    media_id: int
    duplicate: bool
    sha256: str


@dataclass
class ConsentState:
    granted: bool
    notice_version: str | None
    since: str | None
    lapsed: bool = False


def _retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After in seconds from `now` (the epoch time; the clock when None): a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        return max(0.0, parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now))
    except (TypeError, ValueError):
        return None


def _multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = f"----consentsvc-sync-{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{safe_name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Api:
    def __init__(self, server: str, token: str | None = None, *, timeout: float = 60.0):
        self.base = server.rstrip("/") + "/api/v1/"
        if not self.base.startswith(("http://", "https://")):
            raise ValueError(f"The server must be an http:// or https:// URL, not {server!r}.")
        self.token = token
        self.timeout = timeout

    def _send(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
              accept: str = "application/json") -> tuple[int, bytes]:
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            # The scheme is checked in __init__ (http or https only).
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            payload = _json(exc.read())
            error = payload.get("error") if isinstance(payload, dict) else None
            error = error if isinstance(error, dict) else {}
            raise ApiError(
                exc.code, str(error.get("code") or f"http_{exc.code}"), str(error.get("message") or exc.reason),
                retry_after=_retry_after(exc.headers.get("Retry-After")),
            ) from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
            reason = getattr(exc, "reason", exc)
            raise ApiError(0, "unreachable", f"No answer from {self.base}: {reason}") from None

    def _request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None):
        status, raw = self._send(method, path, body=body, content_type=content_type)
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError:
            raise _malformed(method, path, status, "not JSON") from None

    def token_create(self, *, username: str, password: str, device: str) -> str:
        body = json.dumps({"username": username, "password": password, "name": device}).encode()
        status, payload = self._request("POST", "auth/token/", body=body, content_type="application/json")
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise _malformed("POST", "auth/token/", status, "no token in it")
        return token

    def logout(self) -> bool:
        """Revoke this token on the server. False when the server has no logout endpoint (nothing revoked)."""
        try:
            self._request("POST", "auth/logout/", body=b"{}", content_type="application/json")
        except ApiError as exc:
            if exc.status in (404, 405):
                return False
            raise
        return True

    def consent(self) -> ConsentState:
        """Whether Camera Roll Sharing Suggestions is on: only `"granted": true` is on."""
        status, payload = self._request("GET", "consent/")
        rows = payload.get("purposes") if isinstance(payload, dict) else None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise _malformed("GET", "consent/", status, "no list of purposes in it")
        for row in rows:
            if row.get("purpose") == CAMERA_ROLL:
                since = row.get("since")
                version = row.get("notice_version")
                return ConsentState(granted=row.get("granted") is True,
                                    notice_version=version if isinstance(version, str) else None,
                                    since=since if isinstance(since, str) else None,
                                    lapsed=row.get("lapsed") is True)
        return ConsentState(granted=False, notice_version=None, since=None)

    def upload(self, *, filename: str, data: bytes, labels: list[str], captured_at: str | None) -> Uploaded:
        fields = {}
        if labels:
            fields["labels"] = json.dumps(labels)
        if captured_at:
            fields["captured_at"] = captured_at
        body, content_type = _multipart(fields, "file", filename, data)
        status, payload = self._request("POST", "media/", body=body, content_type=content_type)
        media_id = payload.get("id") if isinstance(payload, dict) else None
        if status not in (200, 201) or type(media_id) is not int or media_id < 1:
            raise _malformed("POST", "media/", status, "no media id in it")
        sha256 = payload.get("sha256")
        return Uploaded(media_id=media_id, duplicate=payload.get("duplicate") is True or status == 200,
                        sha256=sha256 if isinstance(sha256, str) else "")


    # The holder's own log (docs/holder-log.md): read as it is served, checked by camera_roll_sync.history.
    def holder_checkpoint(self) -> str | None:
        """The newest signed checkpoint of this holder's log; None while there is none."""
        try:
            _, raw = self._send("GET", HOLDER_TLOG + "checkpoint", accept="text/plain")
        except ApiError as exc:
            if exc.code == "holder_log_no_checkpoint":
                return None
            raise
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise _malformed("GET", HOLDER_TLOG + "checkpoint", 200, "not text") from None

    def holder_tile(self, path: str) -> bytes:
        return self._send("GET", HOLDER_TLOG + path, accept="application/octet-stream")[1]

    def holder_commitment(self) -> dict | None:
        """Where the newest head of this holder's log is in the global trail; None while it is in none yet."""
        path = HOLDER_TLOG + "commitment/"
        try:
            status, payload = self._request("GET", path)
        except ApiError as exc:
            if exc.code == "holder_log_not_committed":
                return None
            raise
        wanted = {"holder_checkpoint": str, "global_checkpoint": str, "leaf_index": int, "entry": str,
                  "inclusion_proof": list, "verifier_key": str}
        if not isinstance(payload, dict) or any(not isinstance(payload.get(k), t) for k, t in wanted.items()):
            raise _malformed("GET", path, status, "not a commitment")
        return payload


HOLDER_TLOG = "me/tlog/"


def _malformed(method: str, path: str, status: int, what: str) -> ApiError:
    return ApiError(status, MALFORMED, f"The server's answer to {method} /api/v1/{path} made no sense ({what}); "
                                       "nothing more is sent")


# Videos go through resumable uploads (tus 1.0). What remains of a file goes in one PATCH, as tus
# recommends, its body read and sent TUS_PIECE_BYTES at a time: the server stores a body as
# encrypted segments as it arrives, each counted in the upload's offset once it is stored, so a
# dropped connection or a killed client loses at most what was in flight, and the next run
# resumes where the server says it stands. CONSENTSVC_SYNC_TUS_CHUNK caps the bytes of one PATCH
# (behind a proxy that limits request bodies); unset, there is no cap.
def _tus_cap(raw: str | None) -> int | None:
    if not raw:
        return None
    cap = int(raw)
    if cap < 1:
        raise ValueError(f"CONSENTSVC_SYNC_TUS_CHUNK is a positive number of bytes, not {raw!r}.")
    return cap


TUS_CHUNK_BYTES = _tus_cap(os.environ.get("CONSENTSVC_SYNC_TUS_CHUNK"))
TUS_PIECE_BYTES = 1024 * 1024  # read and handed to the socket at a time, into one reused buffer
TUS_CONFLICTS = 3  # 409s (another request counted first) answered by asking where the upload stands


class UploadUrls:
    """Where each unfinished resumable upload lives on the server, kept in the client's state (tuspy's
    url_storage interface), so a client killed mid-upload resumes it instead of starting again."""

    def __init__(self, state):
        self.state = state

    def get_item(self, key):
        return self.state.meta(f"tus:{key}")

    def set_item(self, key, value):
        if value is None:  # tuspy stores "no upload yet" too
            self.remove_item(key)
        else:
            self.state.set_meta(f"tus:{key}", value)

    def remove_item(self, key):
        self.state.delete_meta(f"tus:{key}")


def _tus_error(exc) -> ApiError:
    status = int(getattr(exc, "status_code", None) or 0)
    payload = _json(getattr(exc, "response_content", None) or b"")
    error = payload.get("error") if isinstance(payload, dict) else None
    error = error if isinstance(error, dict) else {}
    return ApiError(status, str(error.get("code") or (f"http_{status}" if status else "unreachable")),
                    str(error.get("message") or exc))


class _Halted(Exception):  # noqa: N818 - a signal, not an error
    """Raised from a PATCH body when ``halt`` is set: the request is dropped mid-body."""


class FileRegion:
    """``length`` bytes of an open file from where it stands, as a PATCH body read TUS_PIECE_BYTES at a
    time into one reused buffer: the client holds one piece, whatever the size of the file.

    requests takes the Content-Length from ``len()`` (an iterable without ``read``) and urllib3 sends
    each piece as it is yielded. ``halt`` is looked at between pieces; when it is set, or the file
    ends early, the iterator raises: urllib3 closes the connection on an exception from the body (it
    keeps it only for an OSError, to read an early answer), so the server sees the body end and keeps
    what arrived, and nothing waits for bytes that will not come. A piece is a view of the buffer,
    valid until the next one is asked for (urllib3 has sent it by then)."""

    def __init__(self, stream, *, length: int, name: str, halt=None, piece_bytes: int | None = None):
        self.stream = stream
        self.length = length
        self.name = name
        self.halt = halt
        self.piece_bytes = piece_bytes or TUS_PIECE_BYTES

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        view = memoryview(bytearray(min(self.piece_bytes, self.length)))
        left = self.length
        while left:
            if left < self.length and self.halt is not None and self.halt.is_set():
                raise _Halted
            read = self.stream.readinto(view[:min(left, len(view))])
            if not read:
                raise file_changed(self.name, "shrank")
            left -= read
            yield view[:read]


def _whole_number(raw: str) -> bool:
    """A header's value that int() reads as a whole number (isdigit() alone also takes "²")."""
    return raw.isascii() and raw.isdigit()


def file_changed(name: str, what: str) -> ApiError:
    return ApiError(0, FILE_CHANGED, f"{name} {what} while it was being sent; it goes again once it settles.")


@functools.cache
def streaming_uploader():
    """tuspy's Uploader with each PATCH body streamed from the file (a FileRegion) and every request
    through one requests.Session. Made on first use: tuspy's imports cost a start of the client
    that sends no video (aiohttp among them)."""
    import requests
    from tusclient.exceptions import TusCommunicationError, TusUploadFailed
    from tusclient.request import catch_requests_error
    from tusclient.uploader import Uploader

    class StreamingUploader(Uploader):
        def __init__(self, *args, session: requests.Session, halt=None, timeout: float, **kwargs):
            self.session = session
            self.halt = halt
            self.timeout = timeout
            self.answer: dict[str, str] = {}  # the last PATCH's answer headers, lower-case
            super().__init__(*args, **kwargs)  # HEADs a stored upload: the session must be there

        def get_file_stream(self):
            try:
                return open(self.file_path, "rb")  # noqa: SIM115 - tuspy's callers close it
            except OSError:
                raise file_changed(os.path.basename(self.file_path), "went away") from None

        def get_file_size(self) -> int:
            with self.get_file_stream() as stream:
                return os.fstat(stream.fileno()).st_size

        @catch_requests_error
        def get_offset(self) -> int:
            response = self.session.head(self.url, headers=self.get_headers(), timeout=self.timeout)
            offset = response.headers.get("upload-offset")
            if offset is None:
                raise TusCommunicationError(f"HEAD answered {response.status_code}", response.status_code,
                                            response.content)
            if not _whole_number(offset):
                raise _malformed("HEAD", "media/uploads/", response.status_code, "Upload-Offset not a number")
            return int(offset)

        @catch_requests_error
        def create_url(self) -> str:
            response = self.session.post(self.client.url, headers=self.get_url_creation_headers(),
                                         timeout=self.timeout)
            url = response.headers.get("location")
            if url is None:
                raise TusCommunicationError(f"POST answered {response.status_code}", response.status_code,
                                            response.content)
            return urljoin(self.client.url, url)

        def upload_chunk(self) -> None:
            """One PATCH of what remains (up to chunk_size), streamed; the offset is the server's answer."""
            name = os.path.basename(self.file_path)
            headers = {**self.get_headers(), "Upload-Offset": str(self.offset),
                       "Content-Type": "application/offset+octet-stream"}
            with self.get_file_stream() as stream:
                if os.fstat(stream.fileno()).st_size != self.stop_at:
                    raise file_changed(name, "changed size")
                stream.seek(self.offset)
                body = FileRegion(stream, length=self.get_request_length(), name=name, halt=self.halt)
                try:
                    # No redirects: a body that is read once cannot be sent again.
                    response = self.session.patch(self.url, data=body, headers=headers, timeout=self.timeout,
                                                  allow_redirects=False)
                except requests.RequestException as exc:
                    raise TusUploadFailed(exc) from None
            if not 200 <= response.status_code < 300:
                raise TusUploadFailed("", response.status_code, response.content)
            self.answer = {k.lower(): v for k, v in response.headers.items()}
            offset = self.answer.get("upload-offset", "")
            # An answer that does not move the upload forward would have the client send forever.
            if not _whole_number(offset) or not self.offset < int(offset) <= self.stop_at:
                raise _malformed("PATCH", "media/uploads/", response.status_code,
                                 f"Upload-Offset {offset!r} after {self.offset}")
            self.offset = int(offset)

    return StreamingUploader


def upload_resumable(api: "Api", *, path, urls: UploadUrls, halt: threading.Event | None = None,
                     chunk_size: int | None = None) -> Uploaded | None:
    """Send one file with tus (tuspy), resuming an upload this client started before: what remains
    goes in one streamed PATCH, or in PATCHes of ``chunk_size`` (TUS_CHUNK_BYTES) when capped.

    None when ``halt`` was set: it is looked at before each PATCH and between the pieces of a
    body, and a body is dropped mid-way (what arrived stays on the server, encrypted, until it is
    resumed, expires or the feature is turned off). A file that shrinks or goes away on the way
    is an ApiError with the code FILE_CHANGED. A 409 (another request of the upload counted first) is
    answered by asking the server where it stands and going on from there, TUS_CONFLICTS times at most."""
    import requests
    from tusclient import client as tus_client
    from tusclient.exceptions import TusCommunicationError

    headers = {"User-Agent": USER_AGENT}
    if api.token:
        headers["Authorization"] = f"Token {api.token}"
    tus = tus_client.TusClient(api.base + "media/uploads/", headers=headers)
    try:
        with path.open("rb") as stream:
            key = upload_fingerprint(stream)
    except OSError:
        raise file_changed(path.name, "went away") from None
    cap = chunk_size or TUS_CHUNK_BYTES

    with requests.Session() as session:
        def uploader():
            return streaming_uploader()(
                file_path=str(path), client=tus, session=session, halt=halt, timeout=api.timeout,
                metadata={"filename": path.name}, store_url=True, url_storage=urls,
                **({"chunk_size": cap} if cap else {}),
            )

        try:
            try:
                upload = uploader()
            except TusCommunicationError as exc:
                if exc.status_code not in (404, 410):
                    raise
                # The server no longer has it (expired, ended, or shredded by a withdrawal): start again.
                urls.remove_item(key)
                upload = uploader()
            if not upload.url:
                upload.set_url(upload.create_url())
            started_again = False
            conflicts = 0
            while upload.offset < upload.stop_at:
                if halt is not None and halt.is_set():
                    return None
                try:
                    upload.upload_chunk()
                except TusCommunicationError as exc:
                    if exc.status_code == 409 and conflicts < TUS_CONFLICTS:
                        # Another request of this upload counted a segment first (one from before a kill
                        # or a dropped link, which the server was still storing): the server says where it
                        # stands now, and the rest goes from there. Finished meanwhile: the next run sees.
                        conflicts += 1
                        offset = upload.get_offset()
                        if not upload.offset <= offset < upload.stop_at:
                            raise
                        upload.offset = offset
                        continue
                    # Ended on the server under this PATCH (expired, or ended from elsewhere): what it
                    # held is gone, so the file goes again from its start, once.
                    if exc.status_code not in (404, 410) or started_again:
                        raise
                    started_again = True
                    urls.remove_item(key)
                    upload = uploader()
                    upload.set_url(upload.create_url())
        except _Halted:
            return None
        except ApiError as exc:
            if exc.code == FILE_CHANGED:
                urls.remove_item(key)  # that upload is of bytes the file no longer holds
            raise
        except TusCommunicationError as exc:
            raise _tus_error(exc) from None
        except requests.RequestException as exc:
            raise ApiError(0, "unreachable", f"No answer from {api.base}: {exc}") from None
    answer = upload.answer
    if not answer:
        # Every byte was on the server before this run (killed during its last PATCH): the server is
        # finishing the upload. Asked again later, it answers 404, and the file goes again, answered as
        # a duplicate with the item's id.
        raise ApiError(503, "upload_finishing", f"The server is finishing the upload of {path.name}.")
    urls.remove_item(key)
    item = answer.get("media-item-id", "")
    if not _whole_number(item) or int(item) < 1:
        raise _malformed("PATCH", "media/uploads/", 204, "no Media-Item-Id in the last answer")
    return Uploaded(media_id=int(item), duplicate=answer.get("media-duplicate") == "true", sha256="")


def upload_fingerprint(stream) -> str:
    from tusclient.fingerprint import fingerprint

    return fingerprint.Fingerprint().get_fingerprint(stream)


def _json(raw: bytes):
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {}


@dataclass
class Backoff:
    """Exponential backoff with full jitter for 5xx and lost connections; 429 waits what Retry-After says."""

    base: float = 1.0
    cap: float = 60.0
    max_attempts: int | None = 8  # None: keep trying (the continuous `run`)
    retry_after_cap: float = 600.0

    def delay(self, attempt: int, error: ApiError) -> float:
        if error.status == 429 and error.retry_after is not None:
            return min(error.retry_after, self.retry_after_cap)
        return random.uniform(self.base / 2, min(self.cap, self.base * 2**attempt))


def with_retries(call: Callable, *, backoff: Backoff, stop: threading.Event | None = None,
                 sleep: Callable[[float], None] | None = None,
                 on_wait: Callable[[ApiError, float], None] | None = None):
    """Run `call` until it succeeds, fails for good, or `stop` is set (then the last error is raised)."""
    attempt = 0
    while True:
        try:
            return call()
        except ApiError as exc:
            attempt += 1
            if not exc.transient or (backoff.max_attempts is not None and attempt >= backoff.max_attempts):
                raise
            wait = backoff.delay(attempt - 1, exc)
            if on_wait is not None:
                on_wait(exc, wait)
            if sleep is not None:
                sleep(wait)
            elif stop is not None:
                if stop.wait(wait):
                    raise
            else:
                time.sleep(wait)
            if stop is not None and stop.is_set():
                raise
