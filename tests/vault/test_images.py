"""vault.images: decoding, metadata, stripping and thumbnails, on real photos and hostile files.

Pure functions: no database. Real photos are copies from the shared corpus (see
tests/fixtures/photos/README.md); hostile files are made by tests/fixtures/hostile/make_hostile.py.
"""

import functools
import hashlib
import io
import json
import random
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageOps, PngImagePlugin

from core.errors import ERROR_CODES, ServiceError
from vault.images import ProcessedImage, image_process
from vault.jpeg import JpegError, exif_orientation_tiff, jpeg_rebuild, jpeg_scan

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PHOTOS = FIXTURES / "photos"
HOSTILE = FIXTURES / "hostile"
EXPECTED = json.loads((HOSTILE / "expected.json").read_text())
CORPUS = sorted(p.relative_to(PHOTOS).as_posix() for p in PHOTOS.rglob("*") if p.suffix.lower() in {".jpg", ".heic"})

GPS_IFD, EXIF_IFD = 0x8825, 0x8769

# Pillow says so when it skips a corrupt EXIF tag; for the garbage-EXIF files that is the point.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:(Tag data larger than file|Corrupt EXIF|Possibly corrupt EXIF|Truncated File Read):UserWarning"
)


@functools.cache
def processed(name: str) -> ProcessedImage:
    """Each corpus photo is processed once per test run (the HEIC takes a quarter of a second)."""
    return image_process(data=(PHOTOS / name).read_bytes(), filename=Path(name).name)


def refusal(data: bytes, filename: str = "upload") -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        image_process(data=data, filename=filename)
    return caught.value


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def signature(img: Image.Image) -> list[int]:
    """Mean colour of each cell of a 4x4 grid: enough to tell the eight orientations apart."""
    return list(img.convert("RGB").resize((4, 4), Image.Resampling.BOX).tobytes())


def distance(a: list[int], b: list[int]) -> int:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


def jpeg_with_exif(exif: Image.Exif, size=(120, 80)) -> bytes:
    img = Image.new("RGB", size, (30, 120, 200))
    img.paste((250, 220, 20), (0, 0, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def camera_exif(*, orientation: int = 1, lat=None, lon=None, when=None, offset=None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam Industries"
    exif[0x0112] = orientation
    if when:
        sub = exif.get_ifd(EXIF_IFD)
        sub[0x9003] = when
        if offset:
            sub[0x9011] = offset
    if lat is not None:
        gps = exif.get_ifd(GPS_IFD)
        gps[1], gps[2] = lat
        gps[3], gps[4] = lon
    return exif


# --- the contract ---------------------------------------------------------------------------


def test_it_registers_its_error_codes_with_their_statuses():
    assert ERROR_CODES["invalid_image"][0] == 400
    assert ERROR_CODES["unsupported_media_type"][0] == 415
    assert ERROR_CODES["file_too_large"][0] == 413
    assert ERROR_CODES["image_too_large"][0] == 413


@pytest.mark.parametrize("name", CORPUS)
def test_it_processes_every_corpus_photo(name):
    original = (PHOTOS / name).read_bytes()
    result = processed(name)

    assert result.sha256 == hashlib.sha256(original).hexdigest()
    assert result.content_type == "image/jpeg"
    stored = opened(result.data)
    assert stored.format == "JPEG"
    assert (result.width, result.height) == ImageOps.exif_transpose(stored).size
    thumbnail = opened(result.thumbnail)
    assert thumbnail.format == "JPEG"
    assert max(thumbnail.size) == min(400, max(result.width, result.height))
    assert (thumbnail.width >= thumbnail.height) == (result.width >= result.height)


# --- orientation ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["landscape", "portrait"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_it_turns_every_orientation_upright(shape, orientation):
    upright = opened(processed(f"orientation/{shape}_1.jpg").thumbnail)
    result = processed(f"orientation/{shape}_{orientation}.jpg")
    thumbnail = opened(result.thumbnail)

    assert thumbnail.size == upright.size
    assert (result.width > result.height) == (shape == "landscape")
    # Of the eight ways the upright picture can be flipped or turned, the thumbnail must be
    # closest to the identity.
    candidates = {None: upright, **{method: upright.transpose(method) for method in Image.Transpose}}
    mine = signature(thumbnail)
    nearest = min(candidates, key=lambda method: distance(mine, signature(candidates[method])))
    assert nearest is None, f"{shape}_{orientation} looks like the upright picture after {nearest}"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_it_keeps_only_the_orientation_tag_so_the_original_still_displays_upright(orientation):
    result = processed(f"orientation/landscape_{orientation}.jpg")
    stored = opened(result.data)

    exif = dict(stored.getexif())
    assert exif == ({} if orientation == 1 else {0x0112: orientation})
    shown = ImageOps.exif_transpose(stored)
    assert shown.size == (600, 450)
    assert distance(signature(shown), signature(opened(result.thumbnail))) < 4 * 48


# --- capture time and place -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "lat", "lon", "captured_at"),
    [
        # 43°28'2.814"N 11°53'6.456"E and 43°27'52.038"N 11°52'53.322"E
        ("gps/DSCN0010.jpg", 43.467448, 11.885127, datetime(2008, 10, 22, 16, 28, 39)),  # noqa: DTZ001
        ("gps/DSCN0042.jpg", 43.464455, 11.881478, datetime(2008, 10, 22, 17, 0, 7)),  # noqa: DTZ001
    ],
)
def test_it_reads_gps_and_capture_time_from_the_nikon_photos(name, lat, lon, captured_at):
    result = processed(name)

    assert result.lat == pytest.approx(lat, abs=1e-6)
    assert result.lon == pytest.approx(lon, abs=1e-6)
    # The Nikon records no UTC offset: a naive wall-clock time, to be taken as UTC.
    assert result.captured_at == captured_at
    assert result.captured_at_utc == captured_at.replace(tzinfo=UTC)


def test_it_gives_no_place_for_a_gps_block_without_a_position():
    result = processed("phones/Canon_40D.jpg")

    assert (result.lat, result.lon) == (None, None)
    assert result.captured_at == datetime(2008, 5, 30, 15, 56, 1)  # noqa: DTZ001


def test_it_converts_heic_to_jpeg_with_its_time_and_place():
    result = processed("phones/IMG_5195.HEIC")

    assert result.content_type == "image/jpeg"
    assert (result.width, result.height) == (2566, 3313)
    assert opened(result.data).size == (2566, 3313)
    assert opened(result.thumbnail).size == (310, 400)
    # 15:47:53.054 at -05:00; 39°3'4.84"N 94°17'19.58"W.
    assert result.captured_at == datetime(2021, 4, 11, 20, 47, 53, 54000, tzinfo=UTC)
    assert result.lat == pytest.approx(39.051344, abs=1e-6)
    assert result.lon == pytest.approx(-94.288772, abs=1e-6)


def test_it_converts_the_camera_offset_to_utc():
    data = jpeg_with_exif(camera_exif(when="2024:05:06 10:11:12", offset="+02:00"))

    assert image_process(data=data).captured_at == datetime(2024, 5, 6, 8, 11, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (("S", (33.0, 51.0, 54.0)), ("W", (70.0, 30.0, 0.0)), (-33.865, -70.5)),
        (("N", (95.0, 0.0, 0.0)), ("E", (10.0, 0.0, 0.0)), (None, None)),  # beyond the pole
        (("N", (45.0, 75.0, 0.0)), ("E", (10.0, 0.0, 0.0)), (None, None)),  # 75 minutes
        (("Q", (45.0, 0.0, 0.0)), ("E", (10.0, 0.0, 0.0)), (None, None)),  # no hemisphere
        (("N", (0.0, 0.0, 0.0)), ("E", (0.0, 0.0, 0.0)), (None, None)),  # "no fix" written as 0,0
    ],
)
def test_it_reads_sensible_gps_and_rejects_absurd_gps(lat, lon, expected):
    result = image_process(data=jpeg_with_exif(camera_exif(lat=lat, lon=lon)))

    if expected[0] is None:
        assert (result.lat, result.lon) == (None, None)
    else:
        assert (result.lat, result.lon) == pytest.approx(expected)


# --- stripping --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gps/DSCN0010.jpg", "gps/DSCN0042.jpg", "phones/Canon_40D.jpg"])
def test_it_strips_metadata_from_the_stored_jpeg_without_touching_a_pixel(name):
    original = (PHOTOS / name).read_bytes()
    result = processed(name)
    stored = opened(result.data)

    assert stored.getexif().get_ifd(GPS_IFD) == {}
    assert dict(stored.getexif()) == {}
    assert {marker for marker, _ in stored.applist} <= {"APP0", "APP2", "APP14"}
    for secret in (b"Exif\x00\x00", b"NIKON", b"COOLPIX", b"Canon", b"ns.adobe.com/xap", b"GIMP"):
        assert secret not in result.data
    assert stored.tobytes() == opened(original).tobytes()  # lossless: no re-encode
    assert len(original) - len(result.data) > 1000


def test_it_strips_everything_but_colour_from_the_converted_heic():
    result = processed("phones/IMG_5195.HEIC")
    stored = opened(result.data)

    assert dict(stored.getexif()) == {}
    icc = stored.info.get("icc_profile")
    assert icc and b"Display P3" in icc  # the colours survive (the profile names Apple as its author)
    outside_icc = result.data.replace(icc, b"")
    for secret in (b"Exif\x00\x00", b"Apple", b"iPhone", b"ns.adobe.com/xap"):
        assert secret not in outside_icc


def test_it_strips_png_text_exif_and_time_chunks_and_keeps_the_rotation():
    exif = camera_exif(orientation=6, lat=("N", (51.0, 30.0, 0.0)), lon=("W", (0.0, 7.0, 30.0)))
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Alice Example")
    text.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret place</x:xmpmeta>")
    img = Image.new("RGBA", (60, 40), (0, 0, 255, 255))
    img.paste((255, 0, 0, 255), (0, 0, 30, 20))
    out = io.BytesIO()
    img.save(out, "PNG", pnginfo=text, exif=exif)

    result = image_process(data=out.getvalue(), filename="photo.png")

    assert result.content_type == "image/png"
    assert (result.lat, result.lon) == (pytest.approx(51.5), pytest.approx(-0.125))
    assert (result.width, result.height) == (40, 60)
    for secret in (b"tEXt", b"iTXt", b"Alice", b"secret place", b"SecretCam"):
        assert secret not in result.data
    stored = opened(result.data)
    assert dict(stored.getexif()) == {0x0112: 6}
    assert opened(result.thumbnail).size == (40, 60)


def test_it_strips_webp_exif_and_xmp():
    exif = camera_exif(orientation=3, when="2023:01:02 03:04:05")
    img = Image.new("RGB", (64, 48), (10, 200, 10))
    out = io.BytesIO()
    img.save(out, "WEBP", exif=exif, xmp=b"<x:xmpmeta>secret place</x:xmpmeta>", quality=80)

    result = image_process(data=out.getvalue())

    assert result.content_type == "image/webp"
    assert result.captured_at == datetime(2023, 1, 2, 3, 4, 5)  # noqa: DTZ001
    assert b"secret place" not in result.data and b"SecretCam" not in result.data
    stored = opened(result.data)
    assert stored.format == "WEBP"
    assert dict(stored.getexif()) == {0x0112: 3}


def test_it_takes_the_format_from_the_bytes_not_the_name_or_declared_type():
    data = jpeg_with_exif(Image.Exif())

    result = image_process(data=data, filename="holiday.png", declared_content_type="image/png")

    assert result.content_type == "image/jpeg"


# --- the JPEG walker --------------------------------------------------------------------------


def test_it_writes_a_minimal_exif_that_pillow_reads_back():
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif.load(exif_orientation_tiff(orientation))
        assert dict(exif) == {0x0112: orientation}
    assert len(exif_orientation_tiff(6)) == 26


def test_it_drops_everything_after_the_end_of_image():
    data = jpeg_with_exif(camera_exif()) + b"PK\x03\x04 appended archive"
    scan = jpeg_scan(data)

    rebuilt = jpeg_rebuild(data, scan)

    assert rebuilt.endswith(b"\xff\xd9") and b"PK\x03\x04" not in rebuilt
    assert scan.exif is not None and b"SecretCam" in scan.exif


def test_it_refuses_a_jpeg_whose_segment_runs_past_the_end():
    data = b"\xff\xd8\xff\xe1" + struct.pack(">H", 5000) + b"Exif\x00\x00"

    with pytest.raises(JpegError, match="truncated"):
        jpeg_scan(data)


# --- hostile files ----------------------------------------------------------------------------


def test_it_has_an_expected_code_for_every_hostile_file():
    on_disk = {p.name for p in HOSTILE.iterdir()} - {"make_hostile.py", "expected.json", "README.md"}

    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_gives_each_hostile_file_its_expected_code(name):
    data = (HOSTILE / name).read_bytes()
    expected = EXPECTED[name]

    if expected == "accepted":
        result = image_process(data=data, filename=name)
        opened(result.data)
        opened(result.thumbnail)
    else:
        error = refusal(data, name)
        assert error.code == expected
        assert error.status == ERROR_CODES[expected][0]
        assert len(error.message) > 10 and "0x" not in error.message


@pytest.mark.parametrize(
    "name", ["garbage_exif_random.jpg", "garbage_exif_offsets.jpg", "garbage_exif_values.jpg", "exif_absurd_gps.jpg"]
)
def test_it_ignores_garbage_exif(name):
    result = image_process(data=(HOSTILE / name).read_bytes())

    assert (result.lat, result.lon) == (None, None)
    assert b"Exif" not in result.data
    if name == "exif_absurd_gps.jpg":
        assert result.captured_at == datetime(2020, 6, 1, 12, 0)  # noqa: DTZ001
    else:
        assert result.captured_at is None


def test_it_keeps_nothing_of_a_polyglot_but_the_picture():
    result = image_process(data=(HOSTILE / "polyglot_jpeg_html_zip.jpg").read_bytes())

    for payload in (b"<script", b"<html", b"PK\x03\x04", b"payload.php", b"ns.adobe.com"):
        assert payload not in result.data
    assert result.data.endswith(b"\xff\xd9")


def test_it_accepts_a_png_named_jpg_as_a_png():
    result = image_process(data=(HOSTILE / "png_named.jpg").read_bytes(), filename="png_named.jpg")

    assert result.content_type == "image/png"


def test_it_refuses_an_oversized_file_before_looking_at_it(settings):
    assert settings.VAULT_MAX_UPLOAD_BYTES == 50 * 1024 * 1024
    data = b"\xff\xd8\xff" + bytes(60 * 1024 * 1024)

    error = refusal(data)

    assert (error.code, error.status) == ("file_too_large", 413)
    assert "62.9 MB" in error.message and "52.4 MB" in error.message


def test_it_follows_the_upload_limit_setting(settings):
    data = (PHOTOS / "phones/Canon_40D.jpg").read_bytes()
    settings.VAULT_MAX_UPLOAD_BYTES = len(data) - 1

    assert refusal(data).code == "file_too_large"


@pytest.fixture
def pillow_limit():
    saved = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = saved


def test_it_follows_the_pixel_limit_setting(settings, pillow_limit):
    data = (PHOTOS / "gps/DSCN0010.jpg").read_bytes()

    settings.VAULT_MAX_IMAGE_PIXELS = 640 * 480
    assert image_process(data=data).width == 640
    settings.VAULT_MAX_IMAGE_PIXELS = 640 * 480 - 1
    assert refusal(data).code == "image_too_large"
    settings.VAULT_MAX_IMAGE_PIXELS = 640 * 480 // 3  # past Pillow's own error threshold (2x)
    assert refusal(data).code == "image_too_large"


# --- every pixel mode, and random damage ------------------------------------------------------


def encoded(fmt: str, mode: str) -> bytes:
    picture = Image.new("RGB", (500, 300), (200, 50, 50))
    picture.paste((20, 40, 220), (0, 0, 250, 150))
    out = io.BytesIO()
    if mode == "animated":
        second = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        picture.save(out, fmt, save_all=True, append_images=[second], duration=100, loop=0)
    elif mode == "I;16":
        Image.new("I;16", picture.size, 40000).save(out, fmt)
    else:
        picture.convert(mode).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [
        ("PNG", "1"),
        ("PNG", "L"),
        ("PNG", "LA"),
        ("PNG", "P"),
        ("PNG", "I;16"),
        ("PNG", "RGBA"),
        ("PNG", "animated"),
        ("JPEG", "L"),
        ("JPEG", "CMYK"),
        ("WEBP", "RGBA"),
        ("WEBP", "animated"),
        ("HEIF", "RGB"),
    ],
)
def test_it_makes_a_thumbnail_from_every_pixel_mode(fmt, mode):
    result = image_process(data=encoded(fmt, mode))

    assert (result.width, result.height) == (500, 300)
    thumbnail = opened(result.thumbnail)
    assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("JPEG", "RGB", (400, 240))
    opened(result.data)


def test_it_answers_randomly_damaged_files_with_a_service_error_or_a_clean_result():
    rng = random.Random(4)
    exif = camera_exif(
        orientation=6, when="2024:05:06 10:11:12", lat=("N", (1.0, 2.0, 3.0)), lon=("E", (4.0, 5.0, 6.0))
    )
    picture = Image.new("RGB", (80, 60), (200, 50, 50))
    seeds = []
    for fmt in ("JPEG", "PNG", "WEBP", "HEIF"):
        out = io.BytesIO()
        picture.save(out, fmt, exif=exif)
        seeds.append(out.getvalue())
    outcomes = set()
    for _ in range(400):
        data = bytearray(rng.choice(seeds))
        if rng.random() < 0.6:
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = data[: rng.randrange(len(data))]
        try:
            result = image_process(data=bytes(data))
        except ServiceError as error:
            outcomes.add(error.code)
        else:
            outcomes.add("accepted")
            opened(result.data)
            opened(result.thumbnail)
    assert {"accepted", "invalid_image"} <= outcomes
