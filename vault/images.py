"""Upload validation and metadata extraction: the one place an uploaded image is decoded.

``image_process`` is a pure function (no database, no storage): bytes in, a ``ProcessedImage``
or a ``ServiceError`` out. It is ``image_prepare`` (everything short of decoding the pixels,
including the stripped original) followed by ``PreparedImage.decode``, so that an upload can
encrypt and store the original while the pixels are decoded on another core. The decisions, and why:

- Format from the bytes, never the name or the declared type. We take JPEG, PNG, WebP and
  HEIF/HEIC and nothing else; Pillow is always opened with exactly the one format the magic
  bytes named, so EPS (Ghostscript), TIFF, BMP, GIF and every other plugin are never reached.
  A PNG named ``.jpg`` is a PNG: accepted, with ``content_type`` ``image/png``. A real image
  (or document) in another format is 415 ``unsupported_media_type``; text, garbage and
  truncated files are 400 ``invalid_image``.
- Metadata is stripped from the kept original by walking the container (JPEG markers, PNG
  chunks, WebP RIFF chunks) without re-encoding: lossless, and a few milliseconds instead of a
  decode and an encode (~200 ms for 12 MP, and a generation of JPEG loss). What is decoded
  for validation is the stripped file, i.e. exactly the bytes that are stored.
- Orientation: when the EXIF Orientation is not 1, the stripped original gets back a minimal
  EXIF holding only that tag (26 bytes), so it still displays upright in browsers and in
  ``ImageOps.exif_transpose``; rotating the pixels would force the re-encode above for a large
  share of phone photos. ``width``/``height`` are the upright (displayed) size, and the
  thumbnail has the rotation applied to its pixels.
- HEIC/HEIF is converted to a JPEG (quality 92, ICC profile kept, no EXIF): browsers and the
  suggestion engine can read it, pillow-heif has already applied the HEIF rotation (irot/imir)
  so the pixels are upright, and HEIF metadata lives in items addressed by absolute offsets
  (iloc), so removing it losslessly means rewriting the box structure of a hostile file. The
  decode is needed for validation anyway; the encode adds ~30 ms for 8.5 MP. The HEIC file
  itself is handed back too (``source``), byte for byte as uploaded, metadata and all: the vault
  keeps it sealed beside the JPEG for the holder alone (it comes back in their data export),
  and the gateway never releases it for any purpose, so it never reaches the suggestion engine.
- JPEG is validated with one decode in draft mode (libjpeg DCT scaling, 1/2-1/8): every
  entropy-coded byte is still decoded, so truncation is caught, and the same small decode
  feeds the thumbnail. A full 12 MP decode would cost about twice as much and is not needed.
- ``captured_at``: EXIF DateTimeOriginal (else DateTimeDigitized) with its sub-seconds. When the
  matching OffsetTime tag is present it is an aware datetime in UTC; when the camera recorded
  no offset it is a *naive* datetime holding the camera's wall-clock reading, to be treated as
  UTC (``ProcessedImage.captured_at_utc`` does that) — naive keeps "zone unknown" visible.
- GPS: GPSLatitude/GPSLongitude (degree/minute/second rationals) with their N/S/E/W refs;
  absurd values (out of range, minutes or seconds >= 60, NaN, a missing ref, a void fix,
  exactly 0,0) give no location rather than a wrong one.
- Garbage EXIF never fails an upload: the metadata is then simply missing (Pillow may log a
  UserWarning for each corrupt tag it skips; warning filters are process-wide, so we leave them).
- Decompression bombs: the pixel limit is ``settings.VAULT_MAX_IMAGE_PIXELS``; Pillow's
  process-wide ``Image.MAX_IMAGE_PIXELS`` is set to it, its DecompressionBombWarning is made an
  error while we open, and the size is checked explicitly as well (the warnings filter is
  process-wide state, the explicit check is not).
"""

import dataclasses
import hashlib
import io
import math
import re
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from django.conf import settings
from PIL import Image, UnidentifiedImageError
from pillow_heif import register_heif_opener

from core.errors import ServiceError, register_code
from vault.jpeg import JpegError, exif_orientation_tiff, jpeg_rebuild, jpeg_scan

INVALID_IMAGE = register_code(
    "invalid_image", 400, "The upload is not a readable image: empty, truncated, corrupt, or not an image at all."
)
UNSUPPORTED_MEDIA_TYPE = register_code(
    "unsupported_media_type",
    415,
    "The request's content type, or the uploaded file's format, is not accepted (images: JPEG, PNG, WebP, HEIC).",
)
FILE_TOO_LARGE = register_code("file_too_large", 413, "The uploaded file is larger than the upload limit.")
IMAGE_TOO_LARGE = register_code(
    "image_too_large", 413, "The image has more pixels than allowed (a possible decompression bomb)."
)

# HEIF only: no embedded thumbnails, depth maps or auxiliary images are needed or parsed.
register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

THUMBNAIL_SIZE = 400
THUMBNAIL_QUALITY = 82
HEIF_JPEG_QUALITY = 92

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/jpeg"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}

# Formats recognised only to be refused with 415, by their magic bytes. Pillow never sees them.
_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF (or a camera raw file)"),
    (b"MM\x00*", "TIFF (or a camera raw file)"),
    (b"II+\x00", "BigTIFF"),
    (b"MM\x00+", "BigTIFF"),
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF-", "PDF"),
    (b"8BPS", "Photoshop PSD"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\xff\x0a", "JPEG XL"),
    (b"qoif", "QOI"),
    (b"v/1\x01", "OpenEXR"),
    (b"#?RADIANCE", "Radiance HDR"),
    (b"DDS ", "DDS"),
)
_SVG = re.compile(
    rb"^(\xef\xbb\xbf)?\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]", re.S | re.I
)

# Exif tags
_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x9003, 0x9004
_OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 0x9011, 0x9012
_SUBSEC_ORIGINAL, _SUBSEC_DIGITIZED = 0x9291, 0x9292

# The same table ImageOps.exif_transpose uses, driven by our own defensively parsed value.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes  # the stripped original to store (HEIC arrives converted to JPEG)
    content_type: str  # of ``data``, from the bytes
    width: int  # upright (as displayed, orientation applied)
    height: int
    captured_at: datetime | None  # aware UTC when the EXIF offset is known, else naive wall-clock
    lat: float | None
    lon: float | None
    thumbnail: bytes  # JPEG, longest side <= 400 px, orientation applied
    sha256: str  # hex digest of the uploaded bytes, for duplicates
    # The upload exactly as sent, when ``data`` is a conversion of it (HEIC/HEIF), with its type.
    source: bytes | None = None
    source_content_type: str = ""

    @property
    def captured_at_utc(self) -> datetime | None:
        """``captured_at`` as an aware datetime, a naive one taken to be UTC."""
        if self.captured_at is None or self.captured_at.tzinfo is not None:
            return self.captured_at
        return self.captured_at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Meta:
    orientation: int = 1
    captured_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None


def _invalid(message: str) -> ServiceError:
    return ServiceError(INVALID_IMAGE, message)


@dataclass(frozen=True)
class PreparedImage:
    """An upload read as far as it can be without decoding its pixels: the format sniffed, the
    digest taken, the metadata read, the kept original stripped (JPEG, PNG, WebP) and the header
    opened with its decompression-bomb checks. ``decode()`` does the rest (the pixels, the
    thumbnail) and raises the ServiceError a bad image deserves; it touches no shared state, so
    it may run in another thread while the caller stores what is already known."""

    sha256: str
    original: bytes | None  # the bytes that will be kept, when known before decoding (not for HEIC)
    _decode: Callable[[], ProcessedImage]

    def decode(self) -> ProcessedImage:
        return self._decode()


def image_prepare(*, data: bytes, filename: str = "", declared_content_type: str = "") -> PreparedImage:
    """Everything of ``image_process`` up to the decode of the pixels (see PreparedImage).

    ``filename`` and ``declared_content_type`` are deliberately not trusted for anything:
    the format comes from the bytes.
    """
    limit = settings.VAULT_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise ServiceError(FILE_TOO_LARGE, f"The file is {len(data) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB.")
    if not data:
        raise _invalid("The file is empty.")
    fmt = _sniff(data)
    digest = hashlib.sha256(data).hexdigest()
    if fmt == "JPEG":
        return _prepare_jpeg(data, digest)
    if fmt == "PNG":
        return _prepare_png(data, digest)
    if fmt == "WEBP":
        return _prepare_webp(data, digest)
    return _prepare_heif(data, digest)


def image_process(*, data: bytes, filename: str = "", declared_content_type: str = "") -> ProcessedImage:
    """Validate an upload, read its metadata, strip it, and make a thumbnail."""
    return image_prepare(data=data, filename=filename, declared_content_type=declared_content_type).decode()


# --- format sniffing ---------------------------------------------------------------------


def _sniff(data: bytes) -> str:
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(_PNG_SIGNATURE):
        return "PNG"
    if head.startswith(b"RIFF") and len(head) >= 12:
        if head[8:12] == b"WEBP":
            return "WEBP"
        raise ServiceError(UNSUPPORTED_MEDIA_TYPE, "This is a RIFF file (audio or video), not a photo.")
    if head[4:8] == b"ftyp":
        return _sniff_iso(data)
    for magic, name in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            raise _unsupported(name)
    if _is_bmp(head):
        raise _unsupported("BMP")
    if _SVG.match(data[:4096]):
        raise _unsupported("SVG")
    raise _invalid("The file is not an image: it does not start like a JPEG, PNG, WebP or HEIC file.")


def _unsupported(name: str) -> ServiceError:
    return ServiceError(
        UNSUPPORTED_MEDIA_TYPE, f"{name} files are not accepted; upload a JPEG, PNG, WebP or HEIC photo."
    )


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak (text can start with it): the DIB header size must be a known one.
    if not head.startswith(b"BM") or len(head) < 18:
        return False
    (dib_size,) = struct.unpack_from("<I", head, 14)
    return dib_size in {12, 16, 40, 52, 56, 64, 108, 124}


def _sniff_iso(data: bytes) -> str:
    """An ISO base media file: HEIF/HEIC is ours; AVIF, video and the rest are not."""
    (box_size,) = struct.unpack_from(">I", data, 0)
    box_size = min(max(box_size, 16), len(data), 4096)
    major = data[8:12]
    brands = {major} | {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    if major in _AVIF_BRANDS or (brands & _AVIF_BRANDS and not brands & (_HEIF_BRANDS - {b"mif1", b"msf1"})):
        raise _unsupported("AVIF")
    if brands & _HEIF_BRANDS:
        return "HEIF"
    raise ServiceError(UNSUPPORTED_MEDIA_TYPE, "This is a video or other ISO media file, not a photo.")


# --- decoding ------------------------------------------------------------------------------


def _open(data: bytes, fmt: str) -> Image.Image:
    """Open (lazily) with exactly one plugin, refusing decompression bombs."""
    max_pixels = settings.VAULT_MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels  # process-wide; every decode in this process shares the limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(max_pixels) from exc
    except Exception as exc:  # Pillow signals bad input with many exception types
        raise _invalid(f"The file looks like {_NAMES[fmt]} but cannot be read: {_reason(exc)}.") from exc
    width, height = img.size
    if width < 1 or height < 1:
        raise _invalid(f"The {_NAMES[fmt]} file declares an empty image.")
    if width * height > max_pixels:
        raise _too_large(max_pixels)
    return img


def _load(img: Image.Image, fmt: str) -> None:
    try:
        img.load()
    except Exception as exc:
        raise _invalid(f"The {_NAMES[fmt]} file is truncated or corrupt: {_reason(exc)}.") from exc


_NAMES = {"JPEG": "a JPEG", "PNG": "a PNG", "WEBP": "a WebP", "HEIF": "a HEIC/HEIF"}


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "its header is not valid"
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text[:200]


def _too_large(max_pixels: int) -> ServiceError:
    return ServiceError(
        IMAGE_TOO_LARGE, f"The image has more than {max_pixels / 1e6:.0f} megapixels, the most we accept."
    )


def _upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    width, height = size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _thumbnail_box(size: tuple[int, int]) -> tuple[int, int]:
    """The size the image will have once fitted into THUMBNAIL_SIZE², for draft()."""
    width, height = size
    scale = min(1.0, THUMBNAIL_SIZE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _thumbnail(img: Image.Image, orientation: int) -> bytes:
    """Shrinks ``img`` in place (callers are done with it) and encodes it upright as JPEG."""
    icc = img.info.get("icc_profile") if img.mode in ("RGB", "RGBA", "RGBX") else None
    img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    small = _to_rgb(img)
    if orientation in _TRANSPOSE:
        small = small.transpose(_TRANSPOSE[orientation])
    out = io.BytesIO()
    small.save(out, "JPEG", quality=THUMBNAIL_QUALITY, icc_profile=icc)
    return out.getvalue()


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


# --- metadata ------------------------------------------------------------------------------


def _metadata(tiff: bytes | None) -> _Meta:
    """Orientation, capture time and place from an EXIF (TIFF) payload; garbage gives nothing."""
    if not tiff:
        return _Meta()
    exif = Image.Exif()
    try:
        exif.load(tiff)
    except Exception:
        return _Meta()
    lat, lon = _gps(_ifd(exif, _GPS_IFD))
    return _Meta(orientation=_orientation(exif), captured_at=_captured_at(_ifd(exif, _EXIF_IFD)), lat=lat, lon=lon)


def _ifd(exif: Image.Exif, tag: int) -> dict:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:
        return {}


def _tag(mapping, tag: int):
    try:
        return mapping.get(tag)
    except Exception:
        return None


def _orientation(exif: Image.Exif) -> int:
    value = _tag(exif, _ORIENTATION)
    if isinstance(value, tuple | list) and value:
        value = value[0]
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ").strip()


_DATETIME = re.compile(r"^(\d{4})[:\-/](\d{2})[:\-/](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def _captured_at(exif_ifd: dict) -> datetime | None:
    for stamp_tag, offset_tag, subsec_tag in (
        (_DATETIME_ORIGINAL, _OFFSET_ORIGINAL, _SUBSEC_ORIGINAL),
        (_DATETIME_DIGITIZED, _OFFSET_DIGITIZED, _SUBSEC_DIGITIZED),
    ):
        moment = _exif_datetime(exif_ifd.get(stamp_tag), exif_ifd.get(offset_tag), exif_ifd.get(subsec_tag))
        if moment is not None:
            return moment
    return None


def _exif_datetime(stamp, offset, subsec) -> datetime | None:
    match = _DATETIME.match(_text(stamp) or "")
    if not match:
        return None
    try:
        moment = datetime(*(int(part) for part in match.groups()))
    except ValueError:  # 0000:00:00, month 13, ...
        return None
    if not 1900 <= moment.year <= 2100:
        return None
    digits = re.match(r"\d+", _text(subsec) or "")
    if digits:
        moment = moment.replace(microsecond=int(digits.group()[:6].ljust(6, "0")))
    zone = _OFFSET.match(_text(offset) or "")
    if zone:
        sign, hours, minutes = zone.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta <= timedelta(hours=14) and int(minutes) < 60:
            tz = timezone(-delta if sign == "-" else delta)
            return moment.replace(tzinfo=tz).astimezone(UTC)
    return moment


def _gps(gps: dict) -> tuple[float | None, float | None]:
    if not gps or (_text(gps.get(9)) or "").upper() == "V":  # GPSStatus V: measurement void
        return None, None
    lat = _degrees(gps.get(2), gps.get(1), "N", "S", 90.0)
    lon = _degrees(gps.get(4), gps.get(3), "E", "W", 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return None, None
    return lat, lon


def _degrees(value, ref, positive: str, negative: str, limit: float) -> float | None:
    hemisphere = (_text(ref) or "").upper()[:1]
    if hemisphere not in (positive, negative):
        return None
    if not isinstance(value, tuple | list) or not 1 <= len(value) <= 3:
        return None
    try:
        parts = [float(part) for part in value]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    parts += [0.0] * (3 - len(parts))
    degrees, minutes, seconds = parts
    if not all(math.isfinite(part) and part >= 0 for part in parts) or minutes >= 60 or seconds >= 60:
        return None
    total = degrees + minutes / 60 + seconds / 3600
    if total > limit:
        return None
    return round(-total if hemisphere == negative else total, 7)


# --- JPEG ----------------------------------------------------------------------------------


def _prepare_jpeg(data: bytes, digest: str) -> PreparedImage:
    try:
        scan = jpeg_scan(data)
    except JpegError as exc:
        raise _invalid(f"The JPEG file is broken: {exc}.") from exc
    meta = _metadata(scan.exif)
    minimal = exif_orientation_tiff(meta.orientation) if meta.orientation != 1 else None
    stripped = jpeg_rebuild(data, scan, exif_tiff=minimal)
    img = _open(stripped, "JPEG")
    size = img.size
    # One decode, at the smallest DCT scale that still covers the thumbnail: every entropy-coded
    # byte is decoded (so truncation and corruption surface), the IDCT and colour work shrink.
    img.draft(None, _thumbnail_box(size))

    def decode() -> ProcessedImage:
        _load(img, "JPEG")
        return _result(stripped, "JPEG", size, meta, _thumbnail(img, meta.orientation), digest)

    return PreparedImage(sha256=digest, original=stripped, _decode=decode)


def _result(data: bytes, fmt: str, size, meta: _Meta, thumbnail: bytes, digest: str) -> ProcessedImage:
    width, height = _upright_size(size, meta.orientation)
    return ProcessedImage(
        data=data,
        content_type=CONTENT_TYPES[fmt],
        width=width,
        height=height,
        captured_at=meta.captured_at,
        lat=meta.lat,
        lon=meta.lon,
        thumbnail=thumbnail,
        sha256=digest,
    )


# --- PNG -----------------------------------------------------------------------------------

# Chunks that decoding or colour rendering need; every other chunk (tEXt, zTXt, iTXt, eXIf,
# tIME, C2PA caBX, private chunks, ...) is dropped.
_PNG_KEEP = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"mDCV", b"cLLI", b"mDCv", b"cLLi", b"pHYs", b"bKGD", b"acTL", b"fcTL", b"fdAT",
}  # fmt: skip


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _prepare_png(data: bytes, digest: str) -> PreparedImage:
    view = memoryview(data)
    parts: list[bytes | memoryview] = [_PNG_SIGNATURE]
    exif: bytes | None = None
    first_idat = None
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise _invalid("The PNG file is truncated (it ends before its IEND chunk).")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if length > 2**31 - 1 or end > len(data):
            raise _invalid("The PNG file is truncated (it ends inside a chunk).")
        if kind == b"eXIf" and exif is None:
            exif = bytes(view[pos + 8 : end - 4])
        if kind in _PNG_KEEP:
            if kind == b"IDAT" and first_idat is None:
                first_idat = len(parts)
            parts.append(view[pos:end])
        pos = end
        if kind == b"IEND":
            break
    meta = _metadata(exif)
    if meta.orientation != 1 and first_idat is not None:
        parts.insert(first_idat, _png_chunk(b"eXIf", exif_orientation_tiff(meta.orientation)))
    stripped = b"".join(parts)
    img = _open(stripped, "PNG")

    def decode() -> ProcessedImage:
        _load(img, "PNG")
        return _result(stripped, "PNG", img.size, meta, _thumbnail(img, meta.orientation), digest)

    return PreparedImage(sha256=digest, original=stripped, _decode=decode)


# --- WebP ----------------------------------------------------------------------------------

_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ICCP", b"ANIM", b"ANMF"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _prepare_webp(data: bytes, digest: str) -> PreparedImage:
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end_of_riff = 8 + riff_size
    if riff_size < 4 or end_of_riff > len(data):
        raise _invalid("The WebP file is truncated.")
    chunks: list[tuple[bytes, bytes]] = []
    exif: bytes | None = None
    pos = 12
    while pos < end_of_riff:
        if pos + 8 > end_of_riff:
            raise _invalid("The WebP file is truncated (it ends inside a chunk header).")
        kind, length = struct.unpack_from("<4sI", data, pos)
        end = pos + 8 + length
        if end > end_of_riff:
            raise _invalid("The WebP file is truncated (it ends inside a chunk).")
        payload = data[pos + 8 : end]
        if kind == b"EXIF" and exif is None:
            exif = payload
        if kind in _WEBP_KEEP:
            chunks.append((kind, payload))
        pos = end + (length & 1)  # chunks are padded to an even size
    meta = _metadata(exif)
    if not chunks or chunks[0][0] != b"VP8X":
        # A simple-format WebP cannot carry EXIF (a stray EXIF chunk is non-conformant), so its
        # orientation cannot be kept on the stored copy; ignore it to stay consistent.
        meta = _Meta(captured_at=meta.captured_at, lat=meta.lat, lon=meta.lon)
    else:
        if len(chunks[0][1]) != 10:
            raise _invalid("The WebP file is corrupt (its VP8X header has the wrong size).")
        flags = chunks[0][1][0] & ~(_VP8X_EXIF | _VP8X_XMP)
        if meta.orientation != 1:
            flags |= _VP8X_EXIF
            chunks.append((b"EXIF", exif_orientation_tiff(meta.orientation)))
        chunks[0] = (b"VP8X", bytes([flags]) + chunks[0][1][1:])
    body = b"".join(kind + struct.pack("<I", len(p)) + p + (b"\x00" if len(p) & 1 else b"") for kind, p in chunks)
    stripped = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
    img = _open(stripped, "WEBP")

    def decode() -> ProcessedImage:
        _load(img, "WEBP")
        return _result(stripped, "WEBP", img.size, meta, _thumbnail(img, meta.orientation), digest)

    return PreparedImage(sha256=digest, original=stripped, _decode=decode)


# --- HEIF/HEIC -----------------------------------------------------------------------------


def _prepare_heif(data: bytes, digest: str) -> PreparedImage:
    # Opened here (the bomb checks use process-wide warning filters: one thread only); the kept
    # copy is a conversion, known only once decoded.
    img = _open(data, "HEIF")
    return PreparedImage(sha256=digest, original=None, _decode=lambda: _decode_heif(img, data, digest))


def _decode_heif(img: Image.Image, data: bytes, digest: str) -> ProcessedImage:
    _load(img, "HEIF")
    exif = img.info.get("exif")
    meta = _metadata(exif if isinstance(exif, bytes) else None)
    # pillow-heif applies the HEIF transforms (irot/imir) while decoding; the EXIF orientation of
    # a HEIF is informative only, so applying it again would rotate twice.
    meta = _Meta(captured_at=meta.captured_at, lat=meta.lat, lon=meta.lon)
    icc = img.info.get("icc_profile") or None
    rgb = _to_rgb(img)
    out = io.BytesIO()
    try:
        rgb.save(out, "JPEG", quality=HEIF_JPEG_QUALITY, icc_profile=icc if rgb.mode == img.mode else None)
    except Exception as exc:
        raise _invalid(f"The HEIC/HEIF image cannot be converted: {_reason(exc)}.") from exc
    converted = _result(out.getvalue(), "HEIF", img.size, meta, _thumbnail(rgb, 1), digest)
    return dataclasses.replace(converted, source=data, source_content_type=_heif_content_type(data))


def _heif_content_type(data: bytes) -> str:
    """image/heic for HEVC-coded HEIF (the heic/heix/hevc... brands: what phones make), image/heif
    when only the generic brands (mif1, msf1, mif2) are named (the IANA types of ISO/IEC 23008-12)."""
    (box_size,) = struct.unpack_from(">I", data, 0)
    box_size = min(max(box_size, 16), len(data), 4096)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    return "image/heic" if brands & (_HEIF_BRANDS - {b"mif1", b"msf1", b"mif2"}) else "image/heif"


def looks_like_image(data: bytes) -> bool:
    """Whether the bytes start like an image format we know (taken or refused), for vault.videos."""
    try:
        _sniff(data)
    except ServiceError as exc:
        return exc.code != INVALID_IMAGE
    return True
