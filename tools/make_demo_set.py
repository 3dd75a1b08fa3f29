"""Make the demo camera roll in tests/fixtures/demo/ from the shared photo corpus.

    .venv/bin/python tools/make_demo_set.py [--corpus ../shared/corpus] [--out tests/fixtures/demo]

The photos are committed, so nothing needs this script to run; it is here so anyone can see how each
photo was made and make the set again. Every photo is a corpus photo (or two corpus portraits side by
side), turned upright, scaled down and re-encoded as JPEG with new EXIF written by Pillow: a capture
time (wall clock, no offset) and a GPS position. Nothing else of the camera's EXIF is kept. The output
is deterministic for a given Pillow build.

What the set makes, once uploaded (README, "Try the whole feature"):

- home is Arezzo: four days with the camera there, spread over a month (so it is home, not a stay);
  one of them, Saturday 3 May 2025, is an afternoon in the park (three photos: a collage);
- a trip: Lisbon, Thursday 12 to Saturday 14 June 2025, ten photos (a trip, long enough for a recap):
  five streets, and five photos of two people, each of them in four (after they are named, "Ana and
  Ben in Lisbon").
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image, ImageOps
from PIL.TiffImagePlugin import IFDRational

REPO = Path(__file__).resolve().parent.parent
MAX_SIDE = 960
QUALITY = 80
PORTRAIT_HEIGHT = 640
BACKGROUND = (214, 196, 170)

AREZZO = (43.4633, 11.8796)
LISBON = (38.7105, -9.1365)


@dataclass(frozen=True)
class Shot:
    name: str  # the file's name in the camera roll
    source: tuple[str, ...]  # corpus paths; two or more: portraits side by side
    when: dt.datetime
    where: tuple[float, float]
    mirror: bool = False


def _at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}")


def _near(place: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    """A position a few hundred metres from `place` (so a day's photos are not all on one spot)."""
    return round(place[0] + north_m / 111_320, 6), round(place[1] + east_m / 86_000, 6)


STREETS = "photos/gps/DSCN00{}.jpg".format
SHOTS = [
    # Home, Arezzo: an afternoon in the park (an event of three photos), then three days of one photo each.
    Shot("IMG_0101.jpg", (STREETS(10),), _at("2025-05-03", "15:10:00"), _near(AREZZO, 0, 0)),
    Shot("IMG_0102.jpg", (STREETS(12),), _at("2025-05-03", "15:42:00"), _near(AREZZO, 120, 80)),
    Shot("IMG_0103.jpg", (STREETS(21),), _at("2025-05-03", "16:20:00"), _near(AREZZO, 200, -60)),
    Shot("IMG_0104.jpg", ("photos/phones/jolla.jpg",), _at("2025-05-11", "11:05:00"), _near(AREZZO, -300, 150)),
    Shot("IMG_0105.jpg", ("photos/phones/IMG_5195.HEIC",), _at("2025-05-24", "09:30:00"), _near(AREZZO, 400, 300)),
    Shot("IMG_0106.jpg", (STREETS(25),), _at("2025-06-01", "18:15:00"), _near(AREZZO, -100, -250)),
    # The trip: Lisbon, Thursday 12 to Saturday 14 June 2025.
    Shot("IMG_0201.jpg", (STREETS(27),), _at("2025-06-12", "10:20:00"), _near(LISBON, 0, 0)),
    Shot("IMG_0202.jpg", ("faces/obama.jpg",), _at("2025-06-12", "12:45:00"), _near(LISBON, 150, 220)),
    Shot("IMG_0203.jpg", ("faces/biden.jpg",), _at("2025-06-12", "12:47:00"), _near(LISBON, 152, 221)),
    Shot("IMG_0204.jpg", (STREETS(29),), _at("2025-06-12", "17:30:00"), _near(LISBON, -200, 400)),
    Shot("IMG_0205.jpg", ("faces/obama2.jpg", "faces/biden.jpg"), _at("2025-06-13", "11:10:00"),
         _near(LISBON, 500, -300)),
    Shot("IMG_0206.jpg", (STREETS(38),), _at("2025-06-13", "15:00:00"), _near(LISBON, 650, -100)),
    Shot("IMG_0207.jpg", ("faces/obama.jpg", "faces/biden.jpg"), _at("2025-06-13", "20:30:00"),
         _near(LISBON, 300, 600)),
    Shot("IMG_0208.jpg", (STREETS(40),), _at("2025-06-14", "10:05:00"), _near(LISBON, -400, -500)),
    Shot("IMG_0209.jpg", ("faces/biden.jpg", "faces/obama2.jpg"), _at("2025-06-14", "13:20:00"),
         _near(LISBON, -350, -420), mirror=True),
    Shot("IMG_0210.jpg", (STREETS(42),), _at("2025-06-14", "16:40:00"), _near(LISBON, 100, -700)),
]


def _rational_dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 100)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 100)


def exif_for(when: dt.datetime, where: tuple[float, float]) -> bytes:
    exif = Image.Exif()
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.DateTime] = stamp
    exif[ExifTags.Base.Orientation] = 1
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = stamp
    sub[ExifTags.Base.DateTimeDigitized] = stamp
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSVersionID] = b"\x02\x03\x00\x00"
    gps[ExifTags.GPS.GPSLatitudeRef] = "N" if where[0] >= 0 else "S"
    gps[ExifTags.GPS.GPSLatitude] = _rational_dms(where[0])
    gps[ExifTags.GPS.GPSLongitudeRef] = "E" if where[1] >= 0 else "W"
    gps[ExifTags.GPS.GPSLongitude] = _rational_dms(where[1])
    return exif.tobytes()


def _open(path: Path) -> Image.Image:
    if path.suffix.lower() == ".heic":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def picture(shot: Shot, corpus: Path) -> Image.Image:
    images = [_open(corpus / name) for name in shot.source]
    if len(images) == 1 and not shot.source[0].startswith("faces/"):
        image = images[0]
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        return ImageOps.mirror(image) if shot.mirror else image
    # Portraits: each scaled to one height and set side by side on a plain background.
    scaled = []
    for image in images:
        width = round(image.width * PORTRAIT_HEIGHT / image.height)
        scaled.append(image.resize((width, PORTRAIT_HEIGHT), Image.Resampling.LANCZOS))
    margin = 24
    canvas = Image.new("RGB", (sum(i.width for i in scaled) + margin * (len(scaled) + 1),
                               PORTRAIT_HEIGHT + 2 * margin), BACKGROUND)
    left = margin
    for image in scaled:
        canvas.paste(image, (left, margin))
        left += image.width + margin
    canvas.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return ImageOps.mirror(canvas) if shot.mirror else canvas


def make(corpus: Path, out: Path) -> list[Path]:
    folder = out / "DCIM" / "100DEMO"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    written = []
    for shot in SHOTS:
        buffer = io.BytesIO()
        picture(shot, corpus).save(buffer, "JPEG", quality=QUALITY, optimize=True,
                                   exif=exif_for(shot.when, shot.where))
        path = folder / shot.name
        path.write_bytes(buffer.getvalue())
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus",
                        help="the shared photo corpus (default: ../shared/corpus beside the repository)")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "demo")
    args = parser.parse_args(argv)
    if not (args.corpus / "README.md").is_file():
        parser.error(f"no corpus at {args.corpus} (give --corpus)")
    written = make(args.corpus, args.out)
    total = sum(p.stat().st_size for p in written)
    print(f"{len(written)} photos, {total / 1e6:.1f} MB, in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
