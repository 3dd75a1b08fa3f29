"""What the phone knows about a photo before it decides to upload it: capture time, keywords, hash.

Selection happens on the device, as the notice says: only recent photos (capture time within
`--days`), no screenshots, nothing in an excluded folder. Labels are the photo's own keywords
(XMP dc:subject and IPTC Keywords), never anything inferred.
"""

import fnmatch
import hashlib
import os
import re
import xml.etree.ElementTree as ET  # noqa: S405 - parses XMP from the holder's own photos; expat refuses entity bombs
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from PIL import ExifTags, Image, IptcImagePlugin

try:  # HEIC is what phones shoot; without pillow-heif its metadata falls back to the file's time
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pass

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v"}
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"} | VIDEO_EXTENSIONS
# Folders a camera roll keeps that are not the holder's photos; more with --exclude.
DEFAULT_EXCLUDES = (".*", "Screenshots", "Screen Shots", ".thumbnails", ".trashed*")
SCREENSHOT_NAME = re.compile(r"^(screenshot|screen[ _-]shot|scrn)", re.IGNORECASE)
MAX_LABELS = 50
MAX_LABEL_CHARS = 64

NS_DC = "{http://purl.org/dc/elements/1.1/}"
NS_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


@dataclass
class PhotoInfo:
    captured_at: datetime  # naive local wall-clock time, or aware when the photo says its offset
    from_file_time: bool  # no capture time inside the photo: the file's modification time
    labels: list[str] = field(default_factory=list)
    screenshot: bool = False


def walk(root: Path, excludes: tuple[str, ...]) -> Iterator[tuple[Path, str | None]]:
    """Every media file under root, with the reason it is skipped by its place (or None)."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        here = Path(folder)
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in EXTENSIONS:
                continue
            yield path, folder_skip_reason(path.relative_to(root), excludes)


def folder_skip_reason(relative: Path, excludes: tuple[str, ...]) -> str | None:
    for part in relative.parts[:-1]:
        if any(fnmatch.fnmatch(part.lower(), pattern.lower()) for pattern in excludes):
            return "screenshot" if part.lower() in ("screenshots", "screen shots") else "excluded_folder"
    if any(fnmatch.fnmatch(str(relative).lower(), pattern.lower()) for pattern in excludes if "/" in pattern):
        return "excluded_folder"
    return None


def is_video(path: Path) -> bool:
    """Videos go by resumable upload (tus): they are large, and a phone's connection drops."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_info(path: Path) -> PhotoInfo:
    """Capture time, keywords and whether it is a screenshot; never raises on a damaged file."""
    captured = None
    labels: list[str] = []
    screenshot = bool(SCREENSHOT_NAME.match(path.name))
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            captured = _exif_time(exif)
            labels = _dedupe(_xmp_keywords(_xmp_bytes(image)) + _iptc_keywords(image))
            comment = exif.get_ifd(ExifTags.IFD.Exif).get(0x9286)  # UserComment: iOS marks screenshots
            if isinstance(comment, bytes | str) and b"screenshot" in _as_bytes(comment).lower():
                screenshot = True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        pass
    if captured is None:
        return PhotoInfo(captured_at=datetime.fromtimestamp(path.stat().st_mtime), from_file_time=True,
                         labels=labels, screenshot=screenshot)
    return PhotoInfo(captured_at=captured, from_file_time=False, labels=labels, screenshot=screenshot)


def is_recent(captured_at: datetime, *, days: int, now: datetime | None = None) -> bool:
    if captured_at.tzinfo is not None:
        captured_at = captured_at.astimezone().replace(tzinfo=None)
    now = now or datetime.now()
    return captured_at >= now - timedelta(days=days)


def _as_bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")


def _exif_time(exif) -> datetime | None:
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for tag, offset_tag in ((0x9003, 0x9011), (0x9004, 0x9012), (0x0132, 0x9010)):
        value = sub.get(tag) if tag != 0x0132 else exif.get(tag)
        if not value:
            continue
        try:
            moment = datetime.strptime(str(value).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue
        offset = sub.get(offset_tag)
        if offset:
            try:
                return datetime.fromisoformat(moment.isoformat() + str(offset).strip("\x00 "))
            except ValueError:
                pass
        return moment
    return None


def _xmp_bytes(image) -> bytes | None:
    for key in ("xmp", "XML:com.adobe.xmp"):
        value = image.info.get(key)
        if value:
            return _as_bytes(value)
    return None


def _xmp_keywords(xmp: bytes | None) -> list[str]:
    if not xmp:
        return []
    try:
        root = ET.fromstring(xmp.strip(b"\x00 \r\n\t"))  # noqa: S314 - see the import
    except ET.ParseError:
        return []
    words = []
    for subject in root.iter(f"{NS_DC}subject"):
        for item in subject.iter(f"{NS_RDF}li"):
            if item.text:
                words.append(item.text)
    return words


def _iptc_keywords(image) -> list[str]:
    try:
        info = IptcImagePlugin.getiptcinfo(image) or {}
    except (OSError, ValueError, SyntaxError, TypeError):
        return []
    raw = info.get((2, 25))
    if raw is None:
        return []
    values = raw if isinstance(raw, list) else [raw]
    return [v.decode("utf-8", "replace") for v in values if isinstance(v, bytes)]


def _dedupe(words: list[str]) -> list[str]:
    """What the server accepts: at most 50 distinct non-empty labels of at most 64 characters."""
    seen: list[str] = []
    for word in words:
        word = " ".join(word.split())[:MAX_LABEL_CHARS].strip()
        if word and word.casefold() not in (s.casefold() for s in seen):
            seen.append(word)
    return seen[:MAX_LABELS]
