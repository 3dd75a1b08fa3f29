"""Uploaded videos (MP4, QuickTime; H.264, HEVC): recognised here, parsed in a box.

``video_inspect`` is a pure function like vault.images.image_prepare (no database, no
storage): bytes in, a ``ProcessedVideo`` or a ``ServiceError`` out. The parsing itself
(FFmpeg's demuxers through PyAV, on untrusted bytes) happens in a child process,
vault/video_box.py, started with no environment (no master key, database address or storage
secret reaches it), under an address-space and a CPU-time limit it sets before reading a byte,
and killed when it stalls (VIDEO_PROBE_SECONDS without progress, or that plus a second per 25 MB
while it parses: _Watchdog). A crash, a hang or a bomb there is a 4xx with a stable
code here; nothing of a partial answer is used.

What the service keeps of a video (vault.services.video_store): the remuxed copy the box
returns (no place, no device metadata) as the item's ``original``, the poster as its
``thumbnail``, and the file exactly as uploaded as its ``source``: sealed for the holder's own
export only, as a HEIC is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from core.errors import ServiceError, register_code
from vault.images import looks_like_image

INVALID_VIDEO = register_code(
    "invalid_video", 400,
    "The upload is not a readable MP4 or QuickTime video: empty, truncated, corrupt, or not a video at all.",
)
VIDEO_TOO_LONG = register_code("video_too_long", 413, "The video lasts longer than VIDEO_MAX_SECONDS.")
VIDEO_TOO_LARGE = register_code("video_too_large", 413, "The video's frames have more pixels than allowed.")
VIDEO_PROBE_FAILED = register_code(
    "video_probe_failed", 422,
    "Reading the video crashed, took too long or needed too much memory; nothing was kept.",
)

BOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "video_box.py")
# ISO base media brands of MP4 and QuickTime video (HEIF's and AVIF's are images: vault.images).
VIDEO_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"qt  ",
                b"M4V ", b"M4VP", b"hvc1", b"dby1", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"MSNV", b"XAVC"}
# A QuickTime file from before ftyp existed starts with one of these atoms.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".qt")
CONTENT_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime"}


@dataclass(frozen=True)
class ProcessedVideo:
    data: bytes  # the remuxed copy the service works from: no place, no device metadata
    content_type: str  # of ``data``
    width: int  # upright (rotation applied)
    height: int
    duration_ms: int
    codec: str
    captured_at: datetime | None  # aware
    lat: float | None
    lon: float | None
    thumbnail: bytes  # the poster, JPEG, upright, longest side <= 400 px
    sha256: str  # of the upload, for duplicates
    source: bytes  # the upload, byte for byte
    source_content_type: str


def is_video(*, data: bytes, filename: str = "", declared_content_type: str = "") -> bool:
    """Whether an upload is to be handled as a video: its bytes say MP4 or QuickTime, or (for a
    file whose bytes say nothing readable) its name or declared type does, so that an HTML page
    named .mp4 is refused as a bad video rather than as a bad photo. The bytes decide the rest."""
    head = data[:16]
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return head[8:12] in VIDEO_BRANDS
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return True
    if data and looks_like_image(data):
        return False
    name = (filename or "").lower()
    return name.endswith(_VIDEO_EXTENSIONS) or (declared_content_type or "").lower().startswith("video/")


def _limits() -> dict:
    return {
        "memory_bytes": settings.VIDEO_PROBE_MEMORY_BYTES,
        "cpu_seconds": settings.VIDEO_PROBE_SECONDS,
        # The box spools the file and its remuxed copy (encrypted) to disk: no file larger than a
        # video may be, with room for a remux's own index. Where: FILE_UPLOAD_TEMP_DIR or the system's.
        "file_bytes": settings.VIDEO_MAX_BYTES + settings.VIDEO_MAX_BYTES // 8 + 64 * 1024 * 1024,
        "work_dir": settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir(),
        "max_seconds": settings.VIDEO_MAX_SECONDS,
        "max_pixels": settings.VIDEO_MAX_PIXELS,
    }


def video_inspect(*, data: bytes, sha256: str, filename: str = "") -> ProcessedVideo:
    """Probe, remux and poster one upload in the box; a ServiceError with a stable code if it is refused."""
    if not data:
        raise ServiceError(INVALID_VIDEO, "The file is empty.")
    if len(data) > settings.VIDEO_MAX_BYTES:
        raise ServiceError("file_too_large", f"The video is larger than {settings.VIDEO_MAX_BYTES} bytes.")
    answer = _run_box([data])
    header, _, rest = answer.partition(b"\n")
    try:
        probe = json.loads(header)
    except ValueError:
        raise ServiceError(VIDEO_PROBE_FAILED, "Reading the video failed; nothing was kept.") from None
    if not probe.get("ok"):
        code = probe.get("code")
        if code not in (INVALID_VIDEO, VIDEO_TOO_LONG, VIDEO_TOO_LARGE, VIDEO_PROBE_FAILED, "unsupported_media_type"):
            code = VIDEO_PROBE_FAILED
        raise ServiceError(code, str(probe.get("message") or "The video was refused."))
    remux_bytes, poster_bytes = int(probe["remux_bytes"]), int(probe["poster_bytes"])
    if len(rest) != remux_bytes + poster_bytes or not remux_bytes or not poster_bytes:
        raise ServiceError(VIDEO_PROBE_FAILED, "Reading the video gave an incomplete answer; nothing was kept.")
    captured = probe.get("captured_at")
    kind = "mov" if probe.get("format") == "mov" else "mp4"
    return ProcessedVideo(
        data=rest[:remux_bytes],
        content_type=CONTENT_TYPES[kind],
        width=int(probe["width"]),
        height=int(probe["height"]),
        duration_ms=int(probe["duration_ms"]),
        codec=str(probe["codec"]),
        captured_at=datetime.fromisoformat(captured) if captured else None,
        lat=probe.get("lat"),
        lon=probe.get("lon"),
        thumbnail=rest[remux_bytes:],
        sha256=sha256,
        source=data,
        source_content_type=CONTENT_TYPES[kind],
    )


class BoxSession:
    """One upload read by the box without the web process ever holding it: the file is streamed into
    the child (hashed on the way), then its answer is read from the pipe as the caller stores it.

        with BoxSession(chunks) as box:      # feeds the child; box.sha256 and box.probe are known
            box.remux()                      # an iterator over the remuxed copy, read from the pipe
            box.poster()                     # then the poster's bytes
    Leaving the block checks that the child ended well; an error anywhere kills it.
    """

    def __init__(self, chunks):
        self._chunks = chunks
        self.process = None
        self.sha256 = ""
        self.size = 0
        self.probe: dict = {}
        self._timer = None
        self._abandoned = False
        self.found: dict = {}
        self._digest = None
        self._open = False

    def abandon(self) -> None:
        """Stop reading (the clip turned out to be held already): the child is killed, no error."""
        self._abandoned = True
        self._end()

    def __enter__(self) -> BoxSession:
        if self.process is not None:
            return self  # started by the caller, who gives it the file (start, give, fed)
        self.start()
        try:
            for chunk in self._chunks:
                if not self.give(chunk):
                    break  # the child ended early (a limit): its answer, or its death, says why
        except BaseException:
            self._end()
            raise
        return self.fed()

    def start(self) -> BoxSession:
        """Start the box, to be given the file with give() and then fed() (what __enter__ does with
        the chunks it was made with, for a caller that reads the file for something else too)."""
        self.process = _start_box()
        self._timer = _Watchdog(self.process)
        self._digest = hashlib.sha256()
        self._open = True
        return self

    def give(self, chunk: bytes) -> bool:
        """The next piece of the file; False once the box takes no more (it ended early)."""
        self._digest.update(chunk)
        self.size += len(chunk)
        if self.size > settings.VIDEO_MAX_BYTES:
            self._end()
            raise ServiceError("file_too_large", f"The video is larger than {settings.VIDEO_MAX_BYTES} bytes.")
        if not self._open:
            return False
        try:
            self.process.stdin.write(chunk)
        except BrokenPipeError:
            self._open = False
            return False
        self._timer.progress()  # it is taking the file in: a stall, not a long file, is what kills
        return True

    def fed(self) -> BoxSession:
        """The whole file was given: read the box's verdict (a ServiceError if it refused)."""
        try:
            self._timer.parsing(self.size)
            self.sha256 = self._digest.hexdigest()
            if not self.size:
                raise ServiceError(INVALID_VIDEO, "The file is empty.")
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            header = self.process.stdout.readline(64 * 1024)
            try:
                self.probe = json.loads(header)
            except ValueError:
                self._failed()
            if not self.probe.get("ok"):
                code = self.probe.get("code")
                if code not in (INVALID_VIDEO, VIDEO_TOO_LONG, VIDEO_TOO_LARGE, VIDEO_PROBE_FAILED,
                                "unsupported_media_type"):
                    code = VIDEO_PROBE_FAILED
                raise ServiceError(code, str(self.probe.get("message") or "The video was refused."))
            try:  # the answer is read as untrusted too: a confused or subverted child is a failure
                self.found = self._found()
            except (KeyError, TypeError, ValueError):
                self._failed()
        except BaseException:
            self._end()
            raise
        return self

    def _failed(self):
        self._end()
        raise ServiceError(VIDEO_PROBE_FAILED, _death(self.process.returncode))

    def _read(self, count: int):
        left = count
        while left:
            piece = self.process.stdout.read(min(left, 1024 * 1024))
            if not piece:
                self._failed()
            self._timer.progress()
            left -= len(piece)
            yield piece

    def remux(self):
        return self._read(int(self.probe["remux_bytes"]))

    def poster(self) -> bytes:
        return b"".join(self._read(int(self.probe["poster_bytes"])))

    def _found(self) -> dict:
        """What the probe found, for the item's row and sealed metadata."""
        probe = self.probe
        captured = probe.get("captured_at")
        kind = "mov" if probe.get("format") == "mov" else "mp4"
        lat, lon = probe.get("lat"), probe.get("lon")
        if lat is not None and lon is not None:
            lat, lon = float(lat), float(lon)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError("place out of range")
        found = {
            "content_type": CONTENT_TYPES[kind], "width": int(probe["width"]), "height": int(probe["height"]),
            "duration_ms": int(probe["duration_ms"]), "lat": lat, "lon": lon,
            "captured_at": datetime.fromisoformat(captured) if captured else None,
            "remux_bytes": int(probe["remux_bytes"]), "poster_bytes": int(probe["poster_bytes"]),
        }
        if min(found["width"], found["height"], found["remux_bytes"], found["poster_bytes"]) <= 0:
            raise ValueError("empty answer")
        if found["captured_at"] is not None and found["captured_at"].tzinfo is None:
            raise ValueError("naive time")
        return found

    def _end(self):
        if self._timer is not None:
            self._timer.cancel()
        if self.process is not None and self.process.poll() is None:
            _kill(self.process)
        if self.process is not None:
            for pipe in (self.process.stdin, self.process.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()

    def __exit__(self, kind, error, traceback):
        if kind is not None or self._abandoned:
            self._end()
            return False
        try:
            returncode = self.process.wait(timeout=settings.VIDEO_PROBE_SECONDS)
        except subprocess.TimeoutExpired:
            returncode = -signal.SIGKILL
        self._end()
        if returncode != 0:
            raise ServiceError(VIDEO_PROBE_FAILED, _death(returncode))
        return False


# The wall-clock time the box gets once it has the whole file: VIDEO_PROBE_SECONDS, and a second more
# for each this many bytes (it reads the file through and writes the remuxed copy: about 2 s for
# 100 MB on a loaded 2-core machine, so 2 GB is given 60 + 86 s).
PARSE_BYTES_PER_SECOND = 25 * 1000 * 1000


class _Watchdog(threading.Thread):
    """Kills the box when it stalls: VIDEO_PROBE_SECONDS without progress while the file goes in or
    the answer comes out, and VIDEO_PROBE_SECONDS plus a time in proportion to the file's size while
    it parses (a hang or a slow bomb ends there; a large file is not cut short for being large).
    The CPU-time rlimit is the box's own bound besides."""

    def __init__(self, process: subprocess.Popen):
        super().__init__(daemon=True)
        self._process = process
        self._deadline = time.monotonic() + settings.VIDEO_PROBE_SECONDS
        self._stopped = threading.Event()
        self.start()

    def progress(self) -> None:
        self._deadline = max(self._deadline, time.monotonic() + settings.VIDEO_PROBE_SECONDS)

    def parsing(self, size: int) -> None:
        self._deadline = time.monotonic() + settings.VIDEO_PROBE_SECONDS + size / PARSE_BYTES_PER_SECOND

    def cancel(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        while not self._stopped.wait(max(0.05, min(1.0, self._deadline - time.monotonic()))):
            if time.monotonic() >= self._deadline:
                _kill(self._process)
                return


def _death(returncode) -> str:
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return "Reading the video ran out of time; nothing was kept."
    if returncode is not None and returncode < 0:
        return "Reading the video crashed; nothing was kept."
    return "Reading the video failed; nothing was kept."


def _popen(argument: str) -> subprocess.Popen:
    # No environment at all: nothing the service knows (keys, addresses, secrets) reaches the parser.
    # The command is this interpreter and our own script; the untrusted bytes go to stdin only.
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-I", BOX, argument], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, env={}, close_fds=True, start_new_session=True,
    )


# One box started ahead per web process (VIDEO_BOX_WARM): Python and PyAV's imports take a few
# tenths of a second, off the upload's path this way. It reads nothing but its limits until it is
# used, holds nothing of the service, and is used once; the next is started as it is taken.
_spare: subprocess.Popen | None = None
_spare_lock = threading.Lock()


def _start_box(extra: dict | None = None) -> subprocess.Popen:
    global _spare
    limits = json.dumps({**_limits(), **(extra or {})})
    with _spare_lock:
        process, _spare = _spare, None
        if getattr(settings, "VIDEO_BOX_WARM", False):
            _spare = _popen("--warm")
    if process is not None and process.args[2] == BOX and process.poll() is None:
        try:
            process.stdin.write(limits.encode() + b"\n")
            process.stdin.flush()
            return process
        except BrokenPipeError:
            pass
    if process is not None:
        _kill(process)
    return _popen(limits)


def video_range(*, data: bytes | None = None, chunks=None, start_ms: int, duration_ms: int, as_clip: bool, fps: int,
                max_side: int) -> list[bytes]:
    """Frames (JPEGs) of a time range of the service's copy of a video, or a short muted MP4 of it
    (a list of one), decoded in the box like the upload was. The copy is ``data`` or, never held
    whole here, ``chunks`` (the box spools it as it spools an upload)."""
    limits = {"mode": "clip" if as_clip else "frames", "start_ms": int(start_ms), "duration_ms": int(duration_ms),
              "fps": int(fps), "max_side": int(max_side)}
    answer = _run_box([data] if chunks is None else chunks, extra=limits)
    header, _, rest = answer.partition(b"\n")
    try:
        reply = json.loads(header)
    except ValueError:
        raise ServiceError(VIDEO_PROBE_FAILED, "Reading the video failed.") from None
    if not reply.get("ok"):
        raise ServiceError(VIDEO_PROBE_FAILED, str(reply.get("message") or "Reading the video failed."))
    sizes = [int(size) for size in reply["parts"]]
    if sum(sizes) != len(rest) or not sizes:
        raise ServiceError(VIDEO_PROBE_FAILED, "Reading the video gave an incomplete answer.")
    parts, at = [], 0
    for size in sizes:
        parts.append(rest[at : at + size])
        at += size
    return parts


def _run_box(chunks, extra: dict | None = None) -> bytes:
    """Feed ``chunks`` to the box (it spools them all before it answers), then read its answer:
    small here (a probe with its remux and poster for video_inspect's callers, frames or a short
    clip for video_range). Killed when it stalls (_Watchdog)."""
    process = _start_box(extra)
    timer = _Watchdog(process)
    try:
        size = 0
        try:
            for chunk in chunks:
                process.stdin.write(chunk)
                size += len(chunk)
                timer.progress()
            timer.parsing(size)
            process.stdin.close()
        except BrokenPipeError:
            pass  # the child ended early (a limit): its answer, or its death, says why
        out = process.stdout.read()
        process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            _kill(process)
        for pipe in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
    if process.returncode != 0:
        reason = "crashed" if process.returncode < 0 else "failed"
        if process.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            reason = "ran out of time"
        raise ServiceError(VIDEO_PROBE_FAILED, f"Reading the video {reason}; nothing was kept.")
    return out


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
