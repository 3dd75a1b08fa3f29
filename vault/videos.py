"""Uploaded videos (MP4, QuickTime; H.264, HEVC): recognised here, parsed in a box.

``video_inspect`` is a pure function like vault.images.image_prepare (no database, no
storage): bytes in, a ``ProcessedVideo`` or a ``ServiceError`` out. The parsing itself
(FFmpeg's demuxers through PyAV, on untrusted bytes) happens in a child process,
vault/video_box.py, started with no environment (no master key, database address or storage
secret reaches it), under an address-space and a CPU-time limit it sets before reading a byte,
and killed after VIDEO_PROBE_SECONDS. A crash, a hang or a bomb there is a 4xx with a stable
code here; nothing of a partial answer is used.

What the service keeps of a video (vault.services.video_store): the remuxed copy the box
returns (no place, no device metadata) as the item's ``original``, the poster as its
``thumbnail``, and the file exactly as uploaded as its ``source``: sealed for the holder's own
export only, as a HEIC is.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from core.errors import ServiceError, register_code

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
    from vault.images import looks_like_image

    if data and looks_like_image(data):
        return False
    name = (filename or "").lower()
    return name.endswith(_VIDEO_EXTENSIONS) or (declared_content_type or "").lower().startswith("video/")


def _limits() -> dict:
    return {
        "memory_bytes": settings.VIDEO_PROBE_MEMORY_BYTES,
        "cpu_seconds": settings.VIDEO_PROBE_SECONDS,
        "max_seconds": settings.VIDEO_MAX_SECONDS,
        "max_pixels": settings.VIDEO_MAX_PIXELS,
    }


def video_inspect(*, data: bytes, sha256: str, filename: str = "") -> ProcessedVideo:
    """Probe, remux and poster one upload in the box; a ServiceError with a stable code if it is refused."""
    if not data:
        raise ServiceError(INVALID_VIDEO, "The file is empty.")
    if len(data) > settings.VIDEO_MAX_BYTES:
        raise ServiceError("file_too_large", f"The video is larger than {settings.VIDEO_MAX_BYTES} bytes.")
    answer = _run_box(data)
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


def _run_box(data: bytes) -> bytes:
    command = [sys.executable, "-I", BOX, json.dumps(_limits())]
    # No environment at all: nothing the service knows (keys, addresses, secrets) reaches the parser.
    # The command is this interpreter and our own script; the untrusted bytes go to stdin only.
    process = subprocess.Popen(  # noqa: S603
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={}, close_fds=True, start_new_session=True,
    )
    try:
        out, _ = process.communicate(input=data, timeout=settings.VIDEO_PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise ServiceError(VIDEO_PROBE_FAILED, "Reading the video took too long; nothing was kept.") from None
    except BrokenPipeError:
        process.wait()
        out = b""
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
