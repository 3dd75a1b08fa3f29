"""The child process that parses an uploaded video: FFmpeg's demuxers (through PyAV) run on
untrusted bytes only here, never in the web process.

Run as ``python -I video_box.py LIMITS_JSON`` by vault.videos.video_inspect. It imports no
Django and no part of the service, receives no environment (so no master key, database
address or storage secret), sets its own resource limits before it reads a byte, reads the
file from stdin and answers on stdout:

    one JSON line: {"ok": true, ...probe..., "remux_bytes": N, "poster_bytes": M}
    then N bytes of the remuxed file, then M bytes of the poster (JPEG)
or  one JSON line: {"ok": false, "code": "...", "message": "..."}

The remuxed file is the service's copy: the first video stream (and the first audio
stream), packets copied as they are, with no container or stream metadata (no ``©xyz``,
``loci``, make, model or Apple keys) and no data or timed-metadata tracks (an iPhone can
record its position in one). The display rotation is codec side data and survives.

Memory stays flat whatever the file's size (up to VIDEO_MAX_BYTES, 2 GB, under an address-space
limit far below that): the file read from stdin is spooled to a ``CipherSpool`` (an unnamed
temporary file encrypted under a key made in this process and never kept), FFmpeg reads it from
there as it needs, and the remuxed copy is written to a second spool and streamed out of it.
Plaintext never reaches disk and the spools vanish with the process, however it ends.

Anything that goes wrong inside FFmpeg ends as ``invalid_video``; a crash, a hang or
running out of memory or CPU ends this process, and the parent reports it (it never
trusts a partial answer).
"""

import io
import json
import os
import re
import resource
import sys
import tempfile
from datetime import UTC, datetime

CODECS = {"h264": "H.264", "hevc": "HEVC"}
_ISO6709 = re.compile(r"^\s*([+-]\d{1,2}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)")
POSTER_SIZE = 400
PIECE = 1024 * 1024  # stdin and stdout are read and written in pieces of this size
AV_BUFFER = 256 * 1024  # FFmpeg's reads from and writes to a spool


class CipherSpool(io.RawIOBase):
    """A seekable temporary file whose bytes are on disk only encrypted (AES-256-CTR under a key made
    here, held in this object only): unnamed (O_TMPFILE where the system has it), so it is gone when
    it is closed or its process ends, killed or not. For bytes too large to hold in memory that are
    needed more than once or out of order (a video being parsed, remuxed, or uploaded in one request).
    """

    def __init__(self, directory: str | None = None):
        from cryptography.hazmat.primitives.ciphers import algorithms

        super().__init__()
        self._file = tempfile.TemporaryFile(dir=directory, buffering=0)  # noqa: SIM115 (closed by close())
        self._algorithm = algorithms.AES(os.urandom(32))
        self._nonce = int.from_bytes(os.urandom(8), "big") << 64
        self._pos = 0
        self.size = 0
        self._cipher = None  # the keystream at _cipher_at, reused while reads or writes follow on
        self._cipher_at = -1

    def _xor(self, data, offset: int) -> bytes:
        if offset != self._cipher_at:
            from cryptography.hazmat.primitives.ciphers import Cipher, modes

            block, skip = divmod(offset, 16)
            self._cipher = Cipher(self._algorithm, modes.CTR((self._nonce | block).to_bytes(16, "big"))).encryptor()
            if skip:
                self._cipher.update(bytes(skip))
        out = self._cipher.update(data)
        self._cipher_at = offset + len(data)
        return out

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        want = min(len(buffer), max(0, self.size - self._pos))
        if not want:
            return 0
        self._file.seek(self._pos)
        data = self._file.read(want)
        buffer[: len(data)] = self._xor(data, self._pos)
        self._pos += len(data)
        return len(data)

    def write(self, data) -> int:
        data = bytes(data)
        if self._pos > self.size:  # a seek past the end: the hole reads as zeros, as in a file
            target, self._pos = self._pos, self.size
            while self._pos < target:
                self.write(bytes(min(target - self._pos, PIECE)))
        self._file.seek(self._pos)
        self._file.write(self._xor(data, self._pos))
        self._pos += len(data)
        self.size = max(self.size, self._pos)
        return len(data)

    def pieces(self, size: int = PIECE):
        """The whole content from the start, in pieces (the position moves)."""
        self.seek(0)
        while piece := self.read(size):
            yield piece

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _limit(memory_bytes: int, cpu_seconds: int, file_bytes: int = 0) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The only files it writes are its two spools (the upload, the remuxed copy), neither larger
    # than the upload may be: a remux that grows past it is killed (SIGXFSZ).
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))


def place(metadata: dict) -> tuple[float, float] | None:
    """Latitude and longitude from ISO 6709 text (QuickTime ``©xyz``, Apple's location key, 3GPP
    ``loci`` as FFmpeg reads them); absurd values and exactly 0,0 give no place rather than a wrong one."""
    for key in ("com.apple.quicktime.location.ISO6709", "location", "location-eng"):
        match = _ISO6709.match(str(metadata.get(key) or ""))
        if not match:
            continue
        lat, lon = float(match.group(1)), float(match.group(2))
        if -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0.0, 0.0):
            return lat, lon
    return None


def captured_at(metadata: dict) -> str | None:
    """Apple's creation date keeps the phone's offset; ``creation_time`` (mvhd) is UTC. ISO text, aware."""
    for key in ("com.apple.quicktime.creationdate", "creation_time"):
        raw = str(metadata.get(key) or "").strip()
        if not raw:
            continue
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        # 1904-01-01 is QuickTime's zero: "not set", as is anything before the first phones.
        if when.year < 1990 or when.year > 2200:
            continue
        return when.astimezone(UTC).isoformat()
    return None


def _poster(container, stream) -> tuple[bytes, int]:
    """The first frame, upright, as a JPEG of at most 400 px a side, and the display rotation."""
    from PIL import Image

    for frame in container.decode(stream):
        image, rotation = frame.to_image(), int(round(frame.rotation or 0))
        break
    else:
        raise Refused("invalid_video", "The video has no frame that can be decoded.")
    # PyAV's rotation is the display matrix's: degrees counterclockwise, as PIL's ROTATE_*.
    turn = {90: Image.Transpose.ROTATE_90, 270: Image.Transpose.ROTATE_270,
            180: Image.Transpose.ROTATE_180}.get(rotation % 360)
    if turn is not None:
        image = image.transpose(turn)
    image.thumbnail((POSTER_SIZE, POSTER_SIZE))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=82)
    return out.getvalue(), rotation % 360


def inspect(source, *, max_seconds: float, max_pixels: int, remuxed) -> tuple[dict, bytes]:
    """Probe ``source`` (a seekable file), remux it into ``remuxed`` (a writable seekable file), make
    the poster: the probe and the poster's bytes."""
    import av

    try:
        container = av.open(source, format="mov", metadata_errors="ignore", buffer_size=AV_BUFFER)
    except av.FFmpegError as exc:
        raise Refused("invalid_video", f"The file is not a readable MP4 or QuickTime video ({exc.strerror}).") \
            from None
    with container:
        if not container.streams.video:
            raise Refused("invalid_video", "The file holds no video stream.")
        video = container.streams.video[0]
        codec = video.codec_context.name
        if codec not in CODECS:
            raise Refused("unsupported_media_type", f"The video is {codec}; H.264 and HEVC are accepted.")
        width, height = int(video.codec_context.width or 0), int(video.codec_context.height or 0)
        if width <= 0 or height <= 0:
            raise Refused("invalid_video", "The video has no frame size.")
        if width * height > max_pixels:
            raise Refused("video_too_large", f"The video is {width}x{height}; at most {max_pixels} pixels a frame.")
        seconds = _seconds(container, video)
        if seconds > max_seconds:
            raise Refused("video_too_long",
                          f"The video says it lasts {seconds:.0f} s; the limit is {max_seconds:.0f} s.")
        metadata = dict(container.metadata)
        found = place(metadata)
        audio = container.streams.audio[0] if container.streams.audio else None
        if audio is not None and audio.codec_context.name not in ("aac", "alac", "mp3", "ac3", "eac3", "opus"):
            audio = None  # kept out rather than refused: the picture is what matters
        last = _remux(container, video, audio, max_seconds=max_seconds, into=remuxed)
        container.seek(0)
        poster, rotation = _poster(container, video)
    if rotation in (90, 270):
        width, height = height, width  # the upright size, as for photos
    probe = {
        "duration_ms": round(max(seconds, last) * 1000),
        "codec": codec,
        "width": width,
        "height": height,
        "rotation": rotation,
        "has_audio": audio is not None,
        "captured_at": captured_at(metadata),
        "lat": found[0] if found else None,
        "lon": found[1] if found else None,
        "format": "mov" if metadata.get("major_brand", "").strip() == "qt" else "mp4",
    }
    return probe, poster


def _seconds(container, video) -> float:
    if video.duration is not None and video.time_base:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _remux(container, video, audio, *, max_seconds: float, into) -> float:
    import av

    major = str(container.metadata.get("major_brand", "")).strip()
    output = av.open(into, "w", format="mov" if major == "qt" else "mp4", buffer_size=AV_BUFFER)
    streams = {video.index: output.add_stream_from_template(video)}
    if audio is not None:
        streams[audio.index] = output.add_stream_from_template(audio)
    for stream in streams.values():
        stream.metadata.clear()
    last = 0.0
    packets = 0
    for packet in container.demux([s for s in (video, audio) if s is not None]):
        if packet.dts is None:
            continue
        if packet.pts is not None and packet.time_base:
            last = max(last, float(packet.pts * packet.time_base))
            # The header can lie about the length: what the packets say counts too.
            if last > max_seconds + 1:
                raise Refused("video_too_long", f"The video runs past {max_seconds:.0f} s.")
        packet.stream = streams[packet.stream_index if packet.stream_index in streams else video.index]
        output.mux(packet)
        packets += 1
    if not packets:
        raise Refused("invalid_video", "The video holds no frames.")
    output.close()
    return last


def _fit(image, max_side: int):
    image.thumbnail((max_side, max_side))
    return image


def frames(source, *, start_ms: int, duration_ms: int, fps: int, max_side: int) -> list[bytes]:
    """Frames of a time range, upright, at most ``fps`` a second and ``max_side`` px a side, as JPEGs."""
    import av
    from PIL import Image

    turn = {90: Image.Transpose.ROTATE_90, 270: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180}
    found: list[bytes] = []
    step = 1.0 / fps
    start, end = start_ms / 1000, (start_ms + duration_ms) / 1000
    following = start
    with av.open(source, format="mov", buffer_size=AV_BUFFER) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        container.seek(int(start / video.time_base), stream=video, backward=True, any_frame=False)
        for frame in container.decode(video):
            if frame.pts is None or frame.time is None or frame.time < following - step / 2:
                continue
            if frame.time > end or len(found) >= fps * duration_ms / 1000 + 1:
                break
            image = frame.to_image()
            rotation = int(round(frame.rotation or 0)) % 360
            if rotation in turn:
                image = image.transpose(turn[rotation])
            out = io.BytesIO()
            _fit(image, max_side).convert("RGB").save(out, format="JPEG", quality=85)
            found.append(out.getvalue())
            following = frame.time + step
    if not found:
        raise Refused("invalid_video", "The range holds no frame.")
    return found


def clip(source, *, start_ms: int, duration_ms: int, fps: int, max_side: int) -> bytes:
    """A short H.264 MP4 of a time range, upright and muted."""
    import av
    from PIL import Image

    pictures = [Image.open(io.BytesIO(jpeg)) for jpeg in frames(source, start_ms=start_ms, duration_ms=duration_ms,
                                                                 fps=fps, max_side=max_side)]
    width, height = (side - side % 2 for side in pictures[0].size)
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for picture in pictures:
            frame = av.VideoFrame.from_image(picture.convert("RGB").crop((0, 0, width, height)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _range(source, limits: dict) -> list[bytes]:
    """Mode "frames" or "clip" on the service's own remuxed copy (still decoded only here)."""
    kwargs = {name: int(limits[name]) for name in ("start_ms", "duration_ms", "fps", "max_side")}
    if limits["mode"] == "clip":
        return [clip(source, **kwargs)]
    return frames(source, **kwargs)


def _spooled(stream, directory: str | None) -> CipherSpool:
    spool = CipherSpool(directory)
    while piece := stream.read(PIECE):
        spool.write(piece)
    spool.seek(0)
    return spool


def _limits_when_asked() -> dict:
    """Started ahead as the spare box (``--warm``): the slow imports first, none of which reads a
    byte of the upload, then the limits on stdin's first line when a video comes. Otherwise the
    limits are the argument."""
    if sys.argv[1:] != ["--warm"]:
        return json.loads(sys.argv[1])
    import av  # noqa: F401
    from cryptography.hazmat.primitives.ciphers import Cipher  # noqa: F401
    from PIL import Image  # noqa: F401

    line = sys.stdin.buffer.readline(64 * 1024)
    if not line:
        sys.exit(0)  # the service went away without using this spare
    return json.loads(line)


def main() -> int:
    limits = _limits_when_asked()
    _limit(int(limits["memory_bytes"]), int(limits["cpu_seconds"]), int(limits.get("file_bytes", 0)))
    work_dir = limits.get("work_dir") or None
    source = _spooled(sys.stdin.buffer, work_dir)
    out = sys.stdout.buffer
    if limits.get("mode") in ("frames", "clip"):
        try:
            try:
                parts = _range(source, limits)
            except Refused:
                raise
            except Exception as exc:
                raise Refused("invalid_video", f"The range could not be read ({type(exc).__name__}).") from None
        except Refused as exc:
            out.write(json.dumps({"ok": False, "code": exc.code, "message": exc.message}).encode() + b"\n")
            return 0
        out.write(json.dumps({"ok": True, "parts": [len(part) for part in parts]}).encode() + b"\n")
        for part in parts:
            out.write(part)
        out.flush()
        return 0
    remuxed = CipherSpool(work_dir)
    try:
        try:
            probe, poster = inspect(source, max_seconds=float(limits["max_seconds"]),
                                    max_pixels=int(limits["max_pixels"]), remuxed=remuxed)
        except MemoryError:
            raise Refused("video_probe_failed", "Reading the video needed more memory than allowed.") from None
        except Refused:
            raise
        except Exception as exc:  # FFmpeg's errors and whatever a hostile file provokes
            raise Refused("invalid_video", f"The video could not be read ({type(exc).__name__}).") from None
    except Refused as exc:
        out.write(json.dumps({"ok": False, "code": exc.code, "message": exc.message}).encode() + b"\n")
        out.flush()
        return 0
    source.close()
    out.write(json.dumps({"ok": True, **probe, "remux_bytes": remuxed.size, "poster_bytes": len(poster)}).encode()
              + b"\n")
    for piece in remuxed.pieces():
        out.write(piece)
    out.write(poster)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
