"""Lossless metadata stripping for JPEG: walk the markers, keep what decoding needs, drop the rest.

Nothing is re-encoded: the entropy-coded data, quantisation and Huffman tables are copied
byte for byte, so stripping costs one pass over the file instead of a decode and an encode
(and no quality). What is kept:

- SOI, the frame and scan segments (SOFn, DHT, DQT, DRI, SOS, DAC, DNL, EXP) and the
  entropy-coded data, up to and including the first EOI;
- APP0 ``JFIF`` (colour-space signalling), APP2 ``ICC_PROFILE`` (colour fidelity: phones shoot
  Display P3) and APP14 ``Adobe`` (tells the decoder how CMYK/YCCK is transformed).

What is dropped: APP1 (EXIF, XMP, extended XMP), APP2 other than ICC (MPF, FlashPix), APP3-APP13
(APP13 holds Photoshop IRB/IPTC), APP15, COM, JFXX thumbnails, and everything after the first
EOI (MPF secondary images, motion-photo videos, appended archives of a polyglot).

The first EXIF payload is handed back so the caller can read capture time, place and
orientation from it, and the caller may put back a minimal EXIF of its own (see
``exif_orientation_tiff``) so a rotated photo still displays upright.
"""

import re
import struct
from dataclasses import dataclass

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"

_APP0, _APP1, _APP2, _APP14, _APP15 = 0xE0, 0xE1, 0xE2, 0xEE, 0xEF
_SOS, _EOI, _COM = 0xDA, 0xD9, 0xFE
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
_EXIF_PREFIX = b"Exif\x00\x00"

# Inside entropy-coded data a 0xFF is followed by 0x00 (a stuffed byte) or RST0-7;
# anything else starts the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")


class JpegError(ValueError):
    """The bytes are not a well-formed, complete JPEG."""


@dataclass(frozen=True)
class JpegScan:
    spans: tuple[tuple[int, int], ...]  # (start, end) slices of the input to keep, in order
    insert_after: int  # index into spans after which an EXIF APP1 belongs
    exif: bytes | None  # the TIFF payload of the first APP1 Exif segment, without its prefix


def _keep_app(marker: int, payload: memoryview) -> bool:
    head = bytes(payload[:14])
    if marker == _APP0:
        return head.startswith(b"JFIF\x00")
    if marker == _APP2:
        return head.startswith(b"ICC_PROFILE\x00")
    if marker == _APP14:
        return head.startswith(b"Adobe")
    return False


def jpeg_scan(data: bytes) -> JpegScan:
    """Walk the markers of ``data``; raise JpegError when the structure is broken or truncated."""
    if not data.startswith(SOI):
        raise JpegError("it does not start with a JPEG marker")
    view = memoryview(data)
    size = len(data)
    spans: list[tuple[int, int]] = [(0, 2)]
    insert_after = 0
    exif: bytes | None = None
    seen_frame = False
    pos = 2
    while True:
        if pos >= size:
            raise JpegError("the file is truncated (it ends before the end-of-image marker)")
        if data[pos] != 0xFF:
            raise JpegError(f"a marker was expected at byte {pos}")
        # Any number of 0xFF fill bytes may precede a marker.
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            raise JpegError("the file is truncated (it ends inside a marker)")
        marker = data[pos]
        start = pos - 1
        pos += 1
        if marker == _EOI:
            spans.append((start, pos))
            break
        if marker in _STANDALONE:
            spans.append((start, pos))
            continue
        if marker == 0x00 or marker == 0xD8:
            raise JpegError(f"an invalid marker 0xFF{marker:02X} appears at byte {start}")
        if pos + 2 > size:
            raise JpegError("the file is truncated (it ends inside a segment header)")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise JpegError(f"a segment at byte {start} has an impossible length")
        end = pos + length
        if end > size:
            raise JpegError("the file is truncated (it ends inside a segment)")
        payload = view[pos + 2 : end]
        if _APP0 <= marker <= _APP15 or marker == _COM:
            if marker == _APP1 and exif is None and bytes(payload[:6]) == _EXIF_PREFIX:
                exif = bytes(payload[6:])
            if marker != _COM and _keep_app(marker, payload):
                spans.append((start, end))
                if marker == _APP0 and len(spans) == 2:
                    insert_after = 1  # JFIF must stay first; EXIF goes right after it
        else:
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                seen_frame = True
            spans.append((start, end))
        pos = end
        if marker == _SOS:
            if not seen_frame:
                raise JpegError("a scan starts before any frame header")
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                raise JpegError("the file is truncated (the image data has no end)")
            spans.append((pos, found.start()))
            pos = found.start()
    if not seen_frame:
        raise JpegError("it has no frame header")
    return JpegScan(spans=tuple(spans), insert_after=insert_after, exif=exif)


def jpeg_rebuild(data: bytes, scan: JpegScan, *, exif_tiff: bytes | None = None) -> bytes:
    """The kept spans of ``data``, with an APP1 Exif segment holding ``exif_tiff`` if given."""
    view = memoryview(data)
    parts: list[bytes | memoryview] = [view[a:b] for a, b in scan.spans]
    if exif_tiff is not None:
        payload = _EXIF_PREFIX + exif_tiff
        parts.insert(scan.insert_after + 1, b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload)
    return b"".join(parts)


def exif_orientation_tiff(orientation: int) -> bytes:
    """A minimal big-endian TIFF/EXIF structure holding only the Orientation tag (0x0112)."""
    if not 1 <= orientation <= 8:
        raise ValueError(f"orientation {orientation} is not 1-8")
    header = b"MM\x00\x2a" + struct.pack(">I", 8)
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)  # SHORT, count 1, value left-justified
    return header + struct.pack(">H", 1) + entry + struct.pack(">I", 0)
