"""Small real video clips made with PyAV in the test (no binaries in git)."""

import io
from fractions import Fraction

import av
import numpy as np

PARIS = "+48.8584+002.2945+035.000/"


def clip_bytes(*, fmt: str = "mov", codec: str = "libx264", frames: int = 15, size=(64, 48), rate: int = 15,
               metadata: dict | None = None, rotation: int | None = None, audio: bool = False,
               frame_step: int = 1, colour: tuple[int, int, int] | None = None, noise: int | None = None) -> bytes:
    """An MP4 (fmt="mp4") or QuickTime (fmt="mov") clip of ``frames`` frames, each a different grey.

    ``metadata`` goes into the container (``location`` becomes ``©xyz`` in a .mov and ``loci`` in
    an .mp4; ``make``/``model`` are device atoms). ``frame_step`` spaces the frames' timestamps
    (in frames of ``rate``), so a few frames can claim a long clip. ``colour`` fills every frame;
    ``noise`` (a seed) makes frames of random pixels, which compress badly (a larger file).
    """
    rng = np.random.default_rng(noise) if noise is not None else None
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=none", "preset": "ultrafast"}
        elif codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=48000) if audio else None
        for i in range(frames):
            pixels = np.zeros((size[1], size[0], 3), np.uint8)
            if rng is not None:
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            elif colour is not None:
                pixels[:, :] = colour
            else:
                pixels[:, : size[0] // 2] = (i * 16) % 256
                pixels[: size[1] // 4, :] = (255, 0, 0)  # a red band on top: shows which way is up
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i * frame_step
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if sound is not None:
            samples = np.zeros((1, 1024 * 4), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 48000
            frame.pts = 0
            for packet in sound.encode(frame):
                out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return buffer.getvalue()


def atoms(data: bytes) -> set[bytes]:
    """Names of the metadata atoms that say where or on what a clip was made, wherever they occur."""
    found = set()
    for name in (b"\xa9xyz", b"loci", b"\xa9mak", b"\xa9mod", b"make", b"model", b"com.apple.quicktime"):
        if name in data:
            found.add(name)
    return found
