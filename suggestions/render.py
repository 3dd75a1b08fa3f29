"""Outputs made with Pillow: collages, recap animations (animated WebP) and stylised images.

Inputs are encoded image bytes as the gateway releases them. Decoding asks the JPEG decoder
for a reduced size up front (draft mode: the DCT is scaled by 1/2, 1/4 or 1/8), so a
12-megapixel photo that will fill a 500-pixel collage cell costs a fraction of a full decode.
EXIF orientation is honoured (the gateway applies it already; a stray tag is applied here too).
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

COLLAGE_SIZE = 1600  # the canvas's longer side
COLLAGE_GAP = 8
COLLAGE_BACKGROUND = (246, 244, 239)
JPEG_QUALITY = 85

RECAP_SIZE = 960
RECAP_HOLD_MS = 2000  # each photo's pan and zoom
RECAP_TITLE_MS = 1800
RECAP_FADE_MS = 110
RECAP_FADE_STEPS = 2  # blended frames between two pictures (WebP)
RECAP_MOTION_FRAMES = 8  # frames of a photo's pan and zoom (WebP; the MP4 has RECAP_VIDEO_FPS a second)
RECAP_ZOOM = 1.15
RECAP_VIDEO_FPS = 24
RECAP_VIDEO_SIZE = 720  # the MP4's side: 24 frames a second cost more than the WebP's few
RECAP_MIN_PHOTOS = 4
RECAP_MAX_PHOTOS = 6

STYLIZED_SIZE = 1600
STYLES = ("film", "sketch", "comic", "vintage", "noir")
COMIC_INK = (20, 18, 24)
SKETCH_PAPER = (247, 243, 232)

_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}


# --------------------------------------------------------------------------- decoding


@dataclass
class Source:
    """One input: encoded bytes plus its upright size, read from the header without decoding."""

    data: bytes
    width: int
    height: int
    orientation: int = 1

    @classmethod
    def from_bytes(cls, data: bytes) -> Source:
        with Image.open(io.BytesIO(data)) as image:
            orientation = image.getexif().get(_ORIENTATION, 1) or 1
            width, height = image.size
        if orientation in _TRANSPOSED_ORIENTATIONS:
            width, height = height, width
        return cls(data=data, width=width, height=height, orientation=orientation)

    @property
    def aspect(self) -> float:
        return self.width / self.height

    def decode(self, min_size: tuple[int, int] | None = None) -> Image.Image:
        """Decode upright in RGB, at least min_size (upright pixels) if given: the JPEG decoder
        then does most of the downscaling itself."""
        image = Image.open(io.BytesIO(self.data))
        if min_size is not None and image.format == "JPEG":
            want = (max(1, math.ceil(min_size[0])), max(1, math.ceil(min_size[1])))
            if self.orientation in _TRANSPOSED_ORIENTATIONS:
                want = (want[1], want[0])
            image.draft("RGB", want)
        image.load()
        if self.orientation != 1:
            image = ImageOps.exif_transpose(image)
        if image.mode != "RGB":
            image = image.convert("RGB")
        return image


def decode(data: bytes, min_size: tuple[int, int] | None = None) -> Image.Image:
    return Source.from_bytes(data).decode(min_size)


def cover_size(source_size: tuple[int, int], box: tuple[int, int]) -> tuple[float, float]:
    """The size source_size must be scaled to so that it covers box (what a crop-to-fill needs)."""
    scale = max(box[0] / source_size[0], box[1] / source_size[1])
    return source_size[0] * scale, source_size[1] * scale


# --------------------------------------------------------------------------- centre of interest


def focus_point(image: Image.Image) -> tuple[float, float]:
    """Where the eye goes, as fractions of width and height: the centroid of edge energy and
    colour saturation on a 64-pixel copy, pulled a third of the way back to the middle so a busy
    corner cannot drag the crop off the subject."""
    factor = max(1, max(image.size) // 64)
    small = image.reduce(factor) if factor > 1 else image
    if max(small.size) > 64:
        scale = 64 / max(small.size)
        small = small.resize((max(1, round(small.width * scale)), max(1, round(small.height * scale))))
    width, height = small.size
    edges = small.convert("L").filter(ImageFilter.FIND_EDGES)
    # Pillow copies the outermost pixels through a 3×3 filter unfiltered: they are not edges.
    edges = ImageOps.expand(edges.crop((1, 1, width - 1, height - 1)), border=1, fill=0)
    saturation = small.convert("HSV").getchannel("S")
    energy = ImageChops.add(edges, ImageChops.multiply(saturation, saturation), scale=1.0)
    data = energy.tobytes()
    total = sx = sy = 0.0
    for index, value in enumerate(data):
        if value:
            weight = value * value
            total += weight
            sx += weight * (index % width)
            sy += weight * (index // width)
    if total == 0:
        return 0.5, 0.5
    fx = (sx / total + 0.5) / width
    fy = (sy / total + 0.5) / height
    return 0.5 + (fx - 0.5) * 2 / 3, 0.5 + (fy - 0.5) * 2 / 3


def crop_box(size: tuple[int, int], aspect: float, focus: tuple[float, float]) -> tuple[int, int, int, int]:
    """The largest box of the given aspect inside size, centred on focus as far as the edges allow."""
    width, height = size
    if width / height > aspect:
        box_w, box_h = max(1, round(height * aspect)), height
    else:
        box_w, box_h = width, max(1, round(width / aspect))
    left = min(max(0, round(focus[0] * width - box_w / 2)), width - box_w)
    top = min(max(0, round(focus[1] * height - box_h / 2)), height - box_h)
    return left, top, left + box_w, top + box_h


def fill(source: Source, box: tuple[int, int]) -> Image.Image:
    """Decode (in draft mode) just large enough, crop around the centre of interest, resize to box."""
    box = (max(1, box[0]), max(1, box[1]))
    image = source.decode(cover_size((source.width, source.height), box))
    region = crop_box(image.size, box[0] / box[1], focus_point(image))
    # Draft decoding left at most 2x too many pixels: bicubic is as sharp as Lanczos here, and quicker.
    return image.resize(box, Image.Resampling.BICUBIC, box=region, reducing_gap=2.0)


# --------------------------------------------------------------------------- collage layouts


@dataclass(frozen=True)
class Layout:
    """Cells (left, top, width, height) in canvas pixels, one per photo in the given order."""

    name: str
    size: tuple[int, int]
    cells: tuple[tuple[int, int, int, int], ...]
    cost: float


def _compositions(n: int, max_part: int = 4, max_parts: int = 4):
    for parts in range(1, max_parts + 1):
        for combo in itertools.product(range(1, max_part + 1), repeat=parts):
            if sum(combo) == n:
                yield combo


def _row_layout(aspects: Sequence[float], rows: Sequence[int], size: tuple[int, int], gap: int) -> Layout | None:
    """Justified rows: each row as tall as makes its photos fit the width uncropped, then every
    row stretched or squeezed alike to fill the canvas height (that squeeze is the crop)."""
    width, height = size
    groups, start = [], 0
    for count in rows:
        groups.append(aspects[start : start + count])
        start += count
    natural = [(width - gap * (len(g) + 1)) / sum(g) for g in groups]
    room = height - gap * (len(groups) + 1)
    scale = room / sum(natural)
    if scale <= 0:
        return None
    cells, cost, areas = [], 0.0, []
    top = gap
    for g, row_height in zip(groups, natural, strict=True):
        h = row_height * scale
        left = gap
        row_width = width - gap * (len(g) + 1)
        for index, aspect in enumerate(g):
            w = row_width * aspect / sum(g)
            right = width - gap if index == len(g) - 1 else round(left + w)
            cell_w, cell_h = right - round(left), round(top + h) - round(top)
            cells.append((round(left), round(top), cell_w, cell_h))
            cost += abs(math.log((cell_w / max(1, cell_h)) / aspect))
            areas.append(cell_w * cell_h)
            left = right + gap
        top += h + gap
    # Prefer cells of similar size: a lone photo blown up beside eight stamps looks broken.
    logs = [math.log(a) for a in areas]
    mean = sum(logs) / len(logs)
    cost += 0.6 * math.sqrt(sum((x - mean) ** 2 for x in logs) / len(logs)) * len(logs)
    return Layout(f"rows{'-'.join(map(str, rows))}", size, tuple(cells), cost)


def _transpose(layout: Layout) -> Layout:
    return Layout(
        layout.name.replace("rows", "columns"),
        (layout.size[1], layout.size[0]),
        tuple((top, left, h, w) for left, top, w, h in layout.cells),
        layout.cost,
    )


MIN_CANVAS_ASPECT, MAX_CANVAS_ASPECT = 3 / 4, 4 / 3


def _canvas(natural_aspect: float, long_side: int) -> tuple[int, int]:
    aspect = min(MAX_CANVAS_ASPECT, max(MIN_CANVAS_ASPECT, natural_aspect))
    if aspect >= 1:
        return long_side, round(long_side / aspect)
    return round(long_side * aspect), long_side


def choose_layout(aspects: Sequence[float], *, long_side: int | None = None, gap: int = COLLAGE_GAP) -> Layout:
    """Among justified rows and justified columns for every way of splitting the photos (in
    order) into up to four rows or columns, the layout that crops least and keeps cells alike.

    Each candidate's canvas takes the shape its photos want, kept between 3:4 and 4:3.
    """
    if not aspects:
        raise ValueError("a collage needs at least one photo")
    long_side = long_side or COLLAGE_SIZE
    best: Layout | None = None
    for rows in _compositions(len(aspects)):
        groups, start = [], 0
        for count in rows:
            groups.append(aspects[start : start + count])
            start += count
        # Ignoring gaps, rows of widths 1 have heights 1/sum(aspects): the canvas is 1 by their sum.
        row_aspect = 1 / sum(1 / sum(g) for g in groups)
        column_aspect = sum(1 / sum(1 / a for a in g) for g in groups)
        row_size = _canvas(row_aspect, long_side)
        candidates = [_row_layout(aspects, rows, row_size, gap)]
        column_size = _canvas(column_aspect, long_side)
        transposed = _row_layout([1 / a for a in aspects], rows, (column_size[1], column_size[0]), gap)
        candidates.append(_transpose(transposed) if transposed else None)
        for candidate in candidates:
            if candidate is not None and (best is None or candidate.cost < best.cost - 1e-9):
                best = candidate
    assert best is not None
    return best


def collage(sources: Sequence[Source], *, long_side: int | None = None) -> bytes:
    layout = choose_layout([s.aspect for s in sources], long_side=long_side or COLLAGE_SIZE)
    canvas = Image.new("RGB", layout.size, COLLAGE_BACKGROUND)
    for source, (left, top, w, h) in zip(sources, layout.cells, strict=True):
        canvas.paste(fill(source, (w, h)), (left, top))
    return encode_jpeg(canvas)


def encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False, subsampling="4:2:0")
    return buffer.getvalue()


# --------------------------------------------------------------------------- recap animation


def recap_frames(count: int) -> int:
    """Frames of a WebP recap of `count` photos: the title card, then each photo's pan and zoom
    and its fade into the next."""
    return 1 + RECAP_FADE_STEPS + count * RECAP_MOTION_FRAMES + (count - 1) * RECAP_FADE_STEPS


@dataclass(frozen=True)
class Motion:
    """A Ken Burns move over one still: from one crop (zoom, centre) to another."""

    zoom_from: float
    zoom_to: float
    centre_from: tuple[float, float]
    centre_to: tuple[float, float]

    def box(self, size: tuple[int, int], t: float) -> tuple[float, float, float, float]:
        """The crop (left, top, right, bottom) of the still at time t in [0, 1], eased."""
        t = 0.5 - 0.5 * math.cos(math.pi * t)
        zoom = self.zoom_from + (self.zoom_to - self.zoom_from) * t
        cx = self.centre_from[0] + (self.centre_to[0] - self.centre_from[0]) * t
        cy = self.centre_from[1] + (self.centre_to[1] - self.centre_from[1]) * t
        width, height = size[0] / zoom, size[1] / zoom
        left = min(max(0.0, cx * size[0] - width / 2), size[0] - width)
        top = min(max(0.0, cy * size[1] - height / 2), size[1] - height)
        return left, top, left + width, top + height


def motions(count: int, focuses: Sequence[tuple[float, float]]) -> list[Motion]:
    """Alternately zoom in towards the photo's centre of interest and out from it."""
    moves = []
    for index in range(count):
        focus = focuses[index] if index < len(focuses) else (0.5, 0.5)
        if index % 2 == 0:
            moves.append(Motion(1.0, RECAP_ZOOM, (0.5, 0.5), focus))
        else:
            moves.append(Motion(RECAP_ZOOM, 1.0, focus, (0.5, 0.5)))
    return moves


def _still(source: Source, size: int) -> tuple[Image.Image, tuple[float, float]]:
    """The photo cropped square around its centre of interest, with room to zoom in."""
    big = round(size * RECAP_ZOOM)
    image = fill(source, (big, big))
    return image, focus_point(image)


def _title_card(image: Image.Image, title: str, dates: str) -> Image.Image:
    """The first photo, darkened, with the title and the dates of the moment over it."""
    card = ImageEnhance.Brightness(image).enhance(0.45)
    draw = ImageDraw.Draw(card)
    width, height = card.size
    size = max(12, width // 14)
    font = ImageFont.load_default(size=size)
    small = ImageFont.load_default(size=max(10, size * 3 // 5))
    lines = _wrap(draw, title or "", font, width * 0.86) or [""]
    line_height = round(size * 1.25)
    top = height / 2 - (len(lines) * line_height + (line_height if dates else 0)) / 2
    for line in lines:
        draw.text((width / 2, top), line, font=font, fill=(255, 255, 255), anchor="ma")
        top += line_height
    if dates:
        draw.text((width / 2, top + size * 0.2), dates, font=small, fill=(235, 228, 214), anchor="ma")
    return card


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, max_width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines[:3]


@dataclass
class Clip:
    """A few seconds of a video, as the gateway releases them: its frames (JPEGs, upright, in order)."""

    frames: Sequence[bytes]


def _with_clips(sources: Sequence[Source], clips: Sequence[Clip]) -> list[Source | Clip]:
    """The photos with the clips between them (never first: the title card is over a photo)."""
    order: list[Source | Clip] = []
    pending = list(clips)
    for index, source in enumerate(sources):
        order.append(source)
        if pending and index % 2 == 0:
            order.append(pending.pop(0))
    return order + pending


def recap_parts(sources: Sequence[Source], clips: Sequence[Clip] = ()) -> int:
    return len(sources) + len(clips)


def recap_sequence(
    sources: Sequence[Source], *, size: int, title: str, dates: str, motion_frames: int, fade_frames: int,
    title_frames: int, clips: Sequence[Clip] = (),
):
    """The recap's frames in order, made one at a time (a video never holds them all): the title
    card over the first photo, then each photo panned and zoomed, faded into the next; a clip
    plays its frames (muted: a recap has no sound) in the time a photo is shown."""
    if not RECAP_MIN_PHOTOS <= len(sources) <= RECAP_MAX_PHOTOS:
        raise ValueError(f"a recap takes {RECAP_MIN_PHOTOS} to {RECAP_MAX_PHOTOS} photos")
    parts = _with_clips(sources, clips)
    stills = [_still(part, size) if isinstance(part, Source) else None for part in parts]
    moves = motions(len(parts), [still[1] if still else (0.5, 0.5) for still in stills])

    shown: dict[tuple[int, int], Image.Image] = {}

    def frame(index: int, t: float) -> Image.Image:
        if stills[index] is None:
            pictures = parts[index].frames
            at = (index, min(len(pictures) - 1, round(t * (len(pictures) - 1))))
            if at not in shown:  # a clip has fewer frames than the recap shows: each is decoded once
                shown.clear()
                shown[at] = fill(Source.from_bytes(pictures[at[1]]), (size, size))
            return shown[at]
        still = stills[index][0]
        return still.resize((size, size), Image.Resampling.BILINEAR, box=moves[index].box(still.size, t))

    first = frame(0, 0.0)
    card = _title_card(first, title, dates)
    for _ in range(title_frames):
        yield card
    for step in range(fade_frames):
        yield Image.blend(card, first, (step + 1) / (fade_frames + 1))
    for index in range(len(parts)):
        for step in range(motion_frames):
            yield frame(index, step / max(1, motion_frames - 1))
        if index + 1 < len(parts):
            last, following = frame(index, 1.0), frame(index + 1, 0.0)
            for step in range(fade_frames):
                yield Image.blend(last, following, (step + 1) / (fade_frames + 1))


def recap(sources: Sequence[Source], *, size: int | None = None, title: str = "", dates: str = "",
          clips: Sequence[Clip] = ()) -> bytes:
    """A looping animated WebP: a title card, then each photo with a slow pan and zoom (and each clip)."""
    size = size or RECAP_SIZE
    frames = list(recap_sequence(
        sources, size=size, title=title, dates=dates, motion_frames=RECAP_MOTION_FRAMES,
        fade_frames=RECAP_FADE_STEPS, title_frames=1, clips=clips,
    ))
    frame_ms = round(RECAP_HOLD_MS / RECAP_MOTION_FRAMES)
    durations = [RECAP_TITLE_MS] + [RECAP_FADE_MS] * RECAP_FADE_STEPS
    durations += ([frame_ms] * RECAP_MOTION_FRAMES + [RECAP_FADE_MS] * RECAP_FADE_STEPS) * recap_parts(sources, clips)
    durations = durations[: len(frames)]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "WEBP", save_all=True, append_images=frames[1:], duration=durations, loop=0, quality=78,
        method=0, minimize_size=False, kmin=1, kmax=3,
    )
    return buffer.getvalue()


def recap_poster(data: bytes) -> bytes:
    """The still a <video> shows before it plays: the recap's first frame (its title card) as a JPEG."""
    with Image.open(io.BytesIO(data)) as animation:
        animation.seek(0)
        return encode_jpeg(animation.convert("RGB"))


def recap_video(sources: Sequence[Source], *, size: int | None = None, title: str = "", dates: str = "",
                clips: Sequence[Clip] = ()) -> bytes:
    """The same recap as an H.264 MP4 (what people share), through PyAV's bundled FFmpeg, made
    in memory: nothing of the photos touches the disk."""
    import av

    size = size or RECAP_VIDEO_SIZE
    size -= size % 2  # H.264 with 4:2:0 chroma wants even sides
    fps = RECAP_VIDEO_FPS
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "movflags": "+faststart"}
        for image in recap_sequence(
            sources, size=size, title=title, dates=dates,
            motion_frames=round(RECAP_HOLD_MS / 1000 * fps), fade_frames=round(fps * 0.4),
            title_frames=round(RECAP_TITLE_MS / 1000 * fps), clips=clips,
        ):
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return moov_first(buffer.getvalue())


_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _mp4_boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, offset, size) of each box between start and end (32-bit sizes, as a recap has)."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size = int.from_bytes(data[start : start + 4], "big")
        if size < 8 or start + size > end:
            raise ValueError("not a plain MP4 box")
        yield bytes(data[start + 4 : start + 8]), start, size
        start += size


def _shift_chunk_offsets(moov: bytearray, by: int, start: int = 8, end: int | None = None) -> None:
    for kind, offset, size in list(_mp4_boxes(moov, start, end if end is not None else len(moov))):
        if kind in _MP4_CONTAINERS:
            _shift_chunk_offsets(moov, by, offset + 8, offset + size)
        elif kind in (b"stco", b"co64"):
            width = 4 if kind == b"stco" else 8
            count = int.from_bytes(moov[offset + 12 : offset + 16], "big")
            for n in range(count):
                at = offset + 16 + n * width
                value = int.from_bytes(moov[at : at + width], "big") + by
                moov[at : at + width] = value.to_bytes(width, "big")  # OverflowError past 4 GiB: kept as it was


def moov_first(data: bytes) -> bytes:
    """The MP4 with its index (moov) before the media (mdat), as qt-faststart does, so a player
    starts and seeks from the first piece it asks for instead of fetching the file's end first.
    (FFmpeg's own +faststart rewrites a named file; the recap is made in memory.)"""
    try:
        boxes = list(_mp4_boxes(data))
        kinds = [kind for kind, _, _ in boxes]
        if b"moov" not in kinds or b"mdat" not in kinds or kinds.index(b"moov") < kinds.index(b"mdat"):
            return data
        _, moov_at, moov_size = boxes[kinds.index(b"moov")]
        if moov_at + moov_size != len(data):
            return data  # something after the index: leave the file as FFmpeg wrote it
        moov = bytearray(data[moov_at:])
        _shift_chunk_offsets(moov, moov_size)
    except (ValueError, OverflowError):
        return data
    _, first_at, first_size = boxes[0]
    head = first_at + first_size if kinds[0] == b"ftyp" else 0
    return data[:head] + bytes(moov) + data[head:moov_at]


# --------------------------------------------------------------------------- stylised images


def _vignette(size: tuple[int, int], strength: float) -> Image.Image:
    """A soft dark-edged mask ("L"): 255 in the middle falling to 255·(1 - strength) in the corners."""
    small = Image.radial_gradient("L").resize((64, 64))  # 0 in the centre, 255 at the rim
    mask = small.point(lambda v: round(255 - strength * 255 * min(1.0, (v / 255) ** 2 * 1.4)))
    return mask.resize(size, Image.Resampling.BILINEAR)


def _darken(image: Image.Image, mask: Image.Image) -> Image.Image:
    return ImageChops.multiply(image, Image.merge("RGB", (mask, mask, mask)))


@functools.cache
def _grain_tile(amount: int) -> Image.Image:
    """A fixed 256-pixel tile of soft noise around mid-grey: the same grain every time, so the same
    photo always gives the same output (which the tests rely on to tell outputs apart)."""
    noise = Image.frombytes("L", (256, 256), random.Random(amount).randbytes(256 * 256))
    noise = noise.filter(ImageFilter.GaussianBlur(0.6))
    return noise.point(lambda v: max(0, min(255, round(128 + (v - 128) * amount / 40))))


def _grain(size: tuple[int, int], amount: int) -> Image.Image:
    tile = _grain_tile(amount)
    grain = Image.new("L", size)
    for top in range(0, size[1], tile.height):
        for left in range(0, size[0], tile.width):
            grain.paste(tile, (left, top))
    return grain


def style_film(image: Image.Image) -> Image.Image:
    """Lifted blacks, gentle S-curve, teal shadows and warm highlights, grain, vignette."""
    curve = [round(18 + 225 * (0.5 - 0.5 * math.cos(math.pi * (v / 255) ** 0.95))) for v in range(256)]
    r, g, b = image.split()
    r = r.point([min(255, c + 6) for c in curve])
    g = g.point(curve)
    b = b.point([max(0, min(255, round(c * 0.92 + 16))) for c in curve])
    toned = Image.merge("RGB", (r, g, b))
    toned = ImageEnhance.Color(toned).enhance(0.85)
    grain = _grain(toned.size, 18)
    toned = ImageChops.overlay(toned, Image.merge("RGB", (grain, grain, grain)))
    return _darken(toned, _vignette(toned.size, 0.35))


@functools.cache
def _hatching(spacing: int) -> Image.Image:
    """A 64-pixel tile of soft diagonal pencil strokes (255 paper, darker strokes)."""
    tile = Image.new("L", (64, 64), 255)
    draw = ImageDraw.Draw(tile)
    for offset in range(-64, 128, spacing):
        draw.line((offset, 64, offset + 64, 0), fill=150, width=1)
    return tile.filter(ImageFilter.GaussianBlur(0.5))


def _tiled(tile: Image.Image, size: tuple[int, int]) -> Image.Image:
    out = Image.new(tile.mode, size)
    for top in range(0, size[1], tile.height):
        for left in range(0, size[0], tile.width):
            out.paste(tile, (left, top))
    return out


def style_sketch(image: Image.Image) -> Image.Image:
    """Pencil drawing: outlines from edge detection on a smoothed copy, the darker tones shaded
    with diagonal hatching (cross-hatched where darkest), graphite on warm paper."""
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=1)
    unit = max(1, image.width // 400)
    smooth = gray.filter(ImageFilter.GaussianBlur(unit))
    # Outlines: the gradient of the smoothed image, strong edges dark, texture left out.
    edges = ImageChops.lighter(
        smooth.filter(ImageFilter.Kernel((3, 3), (-1, 0, 1, -2, 0, 2, -1, 0, 1), 1, 0)),
        smooth.filter(ImageFilter.Kernel((3, 3), (1, 0, -1, 2, 0, -2, 1, 0, -1), 1, 0)),
    )
    edges = ImageChops.lighter(
        edges,
        ImageChops.lighter(
            smooth.filter(ImageFilter.Kernel((3, 3), (-1, -2, -1, 0, 0, 0, 1, 2, 1), 1, 0)),
            smooth.filter(ImageFilter.Kernel((3, 3), (1, 2, 1, 0, 0, 0, -1, -2, -1), 1, 0)),
        ),
    )
    lines = edges.point(lambda v: 255 - min(255, max(0, (v - 24) * 3)))
    if unit > 1:
        lines = lines.filter(ImageFilter.MinFilter(3))
    # Shading: hatching where the tone is dark, a second direction where it is darker still.
    tone = gray.filter(ImageFilter.GaussianBlur(unit * 3))
    hatch = _tiled(_hatching(5), image.size)
    cross = _tiled(_hatching(7).transpose(Image.Transpose.FLIP_LEFT_RIGHT), image.size)
    white = Image.new("L", image.size, 255)
    shaded = Image.composite(hatch, white, tone.point(lambda v: 255 if v < 110 else (0 if v > 170 else (170 - v) * 4)))
    shaded = ImageChops.multiply(
        shaded, Image.composite(cross, white, tone.point(lambda v: 255 if v < 55 else (0 if v > 90 else (90 - v) * 7)))
    )
    graphite = ImageChops.multiply(lines, shaded)
    paper = Image.new("RGB", image.size, SKETCH_PAPER)
    ink = Image.new("RGB", image.size, (54, 52, 56))
    return Image.composite(paper, ink, graphite)


def style_comic(image: Image.Image) -> Image.Image:
    """Comic art: flat regions of a few bold colours with dark outlines around them.

    Smoothed (edges kept by median filters), made vivid, cut to a ten-colour palette chosen on
    a tiny copy, cleaned of specks (mode filter); outlines where neighbouring regions differ in
    brightness and along the photo's strongest edges. Worked out on a copy of at most 600
    pixels, where the filters are cheap, and scaled up once."""
    work = image.copy()
    work.thumbnail((600, 600), Image.Resampling.BILINEAR)
    smooth = work.filter(ImageFilter.MedianFilter(3)).filter(ImageFilter.MedianFilter(3))
    smooth = smooth.filter(ImageFilter.SMOOTH_MORE)
    vivid = ImageEnhance.Contrast(ImageEnhance.Color(smooth).enhance(1.35)).enhance(1.1)
    tiny = vivid.copy()
    tiny.thumbnail((96, 96))
    palette = tiny.quantize(colors=10, method=Image.Quantize.MEDIANCUT)
    regions = vivid.quantize(palette=palette, dither=Image.Dither.NONE).filter(ImageFilter.ModeFilter(5))
    flat = regions.convert("RGB")
    lum = flat.convert("L")
    borders = ImageChops.subtract(lum.filter(ImageFilter.MaxFilter(3)), lum.filter(ImageFilter.MinFilter(3)))
    borders = borders.point(lambda v: 255 if v > 28 else 0)
    strong = work.convert("L").filter(ImageFilter.GaussianBlur(1.5)).filter(ImageFilter.FIND_EDGES)
    strong = strong.point(lambda v: 255 if v > 48 else 0)
    outline = ImageChops.lighter(borders, strong).filter(ImageFilter.MaxFilter(3))
    inked = Image.composite(Image.new("RGB", work.size, COMIC_INK), flat, outline)
    return inked.resize(image.size, Image.Resampling.BICUBIC)


def style_vintage(image: Image.Image) -> Image.Image:
    """Warm sepia toning blended with faded colour, soft contrast and a strong vignette."""
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=1)
    sepia = ImageOps.colorize(gray, black=(48, 30, 18), white=(255, 236, 196), mid=(168, 124, 84))
    faded = ImageEnhance.Contrast(ImageEnhance.Color(image).enhance(0.6)).enhance(0.85)
    mixed = Image.blend(faded, sepia, 0.55)
    return _darken(mixed, _vignette(mixed.size, 0.5))


def style_noir(image: Image.Image) -> Image.Image:
    """High-contrast black and white."""
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=2)
    curve = [round(255 / (1 + math.exp(-(v - 128) / 28))) for v in range(256)]
    gray = gray.point(curve)
    toned = Image.merge("RGB", (gray, gray, gray))
    return _darken(toned, _vignette(toned.size, 0.3))


STYLE_FUNCTIONS = {
    "film": style_film,
    "sketch": style_sketch,
    "comic": style_comic,
    "vintage": style_vintage,
    "noir": style_noir,
}


def stylize(source: Source, style: str, *, long_side: int | None = None) -> bytes:
    if style not in STYLE_FUNCTIONS:
        raise ValueError(f"unknown style {style!r}; one of {', '.join(STYLES)}")
    long_side = long_side or STYLIZED_SIZE
    scale = min(1.0, long_side / max(source.width, source.height))
    target = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
    image = source.decode(target)
    if image.size != target:
        # Draft decoding got within 2x of the target: a bicubic step is sharp enough and quick.
        image = image.resize(target, Image.Resampling.BICUBIC)
    return encode_jpeg(STYLE_FUNCTIONS[style](image))


# --------------------------------------------------------------------------- choosing a strong photo


def photo_strength(image: Image.Image) -> float:
    """How good a photo is to stylise on its own, from a small copy: sharp (edge energy),
    well exposed (mid-tone mean) and with some contrast. Higher is better."""
    small = image.convert("L")
    small.thumbnail((128, 128), Image.Resampling.BILINEAR)
    histogram = small.histogram()
    count = sum(histogram) or 1
    mean = sum(i * h for i, h in enumerate(histogram)) / count
    variance = sum(h * (i - mean) ** 2 for i, h in enumerate(histogram)) / count
    edges = small.filter(ImageFilter.FIND_EDGES).histogram()
    sharpness = sum(i * h for i, h in enumerate(edges)) / count
    exposure = 1.0 - abs(mean - 128) / 128
    return sharpness * 0.6 + math.sqrt(variance) * 0.3 + exposure * 20
