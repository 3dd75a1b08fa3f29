import io
import itertools

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageSequence, ImageStat

from suggestions import render
from tests.suggestions.factories import pattern_jpeg, solid_jpeg
from tests.suggestions.pixels import colours_in

PALETTE = [
    (220, 40, 40),
    (40, 180, 60),
    (40, 70, 220),
    (230, 200, 40),
    (200, 60, 200),
    (40, 200, 210),
    (240, 130, 30),
    (120, 60, 20),
    (150, 150, 150),
]


def test_it_reads_the_upright_size_from_exif_orientation_and_decodes_upright():
    # Stored 600×400 landscape with Orientation 6 (rotate 90° clockwise to view): upright it is portrait.
    stored = Image.new("RGB", (600, 400), (0, 0, 255))
    ImageDraw.Draw(stored).rectangle((0, 0, 299, 399), fill=(255, 0, 0))  # left half red
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(buffer, "JPEG", quality=95, exif=exif)
    source = render.Source.from_bytes(buffer.getvalue())
    assert (source.width, source.height) == (400, 600)
    upright = source.decode()
    assert upright.size == (400, 600)
    # Rotated clockwise, the stored left half ends up on top.
    top = upright.getpixel((200, 100))
    bottom = upright.getpixel((200, 500))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_it_decodes_big_jpegs_in_draft_mode_just_large_enough():
    source = render.Source.from_bytes(solid_jpeg((10, 20, 30), (4000, 3000), quality=70))
    image = source.decode((480, 360))
    assert image.size == (500, 375)  # 1/8 scale: the smallest that still covers 480×360
    assert source.decode((600, 400)).size == (1000, 750)


def test_it_finds_the_centre_of_interest_and_crops_around_it():
    image = Image.new("RGB", (800, 400), (128, 128, 128))
    ImageDraw.Draw(image).ellipse((640, 150, 740, 250), fill=(250, 30, 30))
    fx, fy = render.focus_point(image)
    assert fx > 0.7 and 0.4 < fy < 0.6
    left, top, right, bottom = render.crop_box(image.size, 1.0, (fx, fy))
    assert (right - left, bottom - top) == (400, 400)
    assert left <= 640 and right >= 740  # the subject stays in the square
    assert render.focus_point(Image.new("RGB", (50, 50), (9, 9, 9))) == (0.5, 0.5)


@pytest.mark.parametrize("count", range(1, 10))
@pytest.mark.parametrize("orientation", ["landscape", "portrait", "mixed"])
def test_it_lays_out_every_count_without_overlaps(count, orientation):
    aspects = {
        "landscape": [4 / 3] * count,
        "portrait": [3 / 4] * count,
        "mixed": [4 / 3 if i % 2 else 3 / 4 for i in range(count)],
    }[orientation]
    layout = render.choose_layout(aspects)
    width, height = layout.size
    assert max(width, height) == render.COLLAGE_SIZE
    assert 0.74 <= width / height <= 1.34
    assert len(layout.cells) == count
    for left, top, w, h in layout.cells:
        assert w > 60 and h > 60
        assert left >= 0 and top >= 0 and left + w <= width and top + h <= height
    for (l1, t1, w1, h1), (l2, t2, w2, h2) in itertools.combinations(layout.cells, 2):
        assert l1 + w1 <= l2 or l2 + w2 <= l1 or t1 + h1 <= t2 or t2 + h2 <= t1


def test_it_picks_layouts_by_orientation():
    assert render.choose_layout([4 / 3] * 4).name == "rows2-2"
    assert render.choose_layout([4 / 3] * 9).name == "rows3-3-3"
    portrait_pair = render.choose_layout([3 / 4, 3 / 4])
    landscape_pair = render.choose_layout([4 / 3, 4 / 3])
    assert portrait_pair.size[0] > portrait_pair.size[1]  # side by side
    assert landscape_pair.size[0] < landscape_pair.size[1]  # one above the other


def test_it_puts_every_photo_and_only_those_in_a_collage():
    sources = [render.Source.from_bytes(solid_jpeg(colour, (800, 600) if i % 3 else (600, 800))) for i, colour in
               enumerate(PALETTE[:7])]
    output = Image.open(io.BytesIO(render.collage(sources)))
    assert output.format == "JPEG"
    assert colours_in(output, PALETTE) == set(PALETTE[:7])


def test_it_makes_a_recap_with_a_title_card_and_a_ken_burns_move_on_each_photo():
    sources = [render.Source.from_bytes(pattern_jpeg(seed, (800, 600))) for seed in range(4)]
    animation = Image.open(io.BytesIO(render.recap(sources, size=240, title="A weekend in Lisbon", dates="10–12 May")))
    assert animation.format == "WEBP" and animation.is_animated
    assert animation.n_frames == render.recap_frames(4)
    frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(animation)]
    # The title card: the first photo darkened, with white lettering on it.
    first_photo = frames[1 + render.RECAP_FADE_STEPS]
    card = frames[0]
    assert ImageStat.Stat(card.convert("L")).mean[0] < ImageStat.Stat(first_photo.convert("L")).mean[0]
    assert card.convert("L").getextrema()[1] >= 240
    # Ken Burns: within one photo's run the frames move (zoom and pan), the first and last differ most.
    start = 1 + render.RECAP_FADE_STEPS
    run = frames[start : start + render.RECAP_MOTION_FRAMES]
    moved = [ImageStat.Stat(ImageChops.difference(run[0], frame)).mean[0] for frame in run[1:]]
    assert 0 < moved[0] < moved[-1]
    with pytest.raises(ValueError):
        render.recap(sources[:3])


def test_it_makes_the_recap_as_an_h264_mp4_too():
    import av

    sources = [render.Source.from_bytes(pattern_jpeg(seed, (800, 600))) for seed in range(4)]
    data = render.recap_video(sources, size=160, title="Lisbon", dates="10–12 May")
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (160, 160)
        count = sum(1 for _ in container.decode(stream))
    seconds = (render.RECAP_TITLE_MS + 4 * render.RECAP_HOLD_MS) / 1000
    assert count >= seconds * render.RECAP_VIDEO_FPS


@pytest.mark.parametrize("style", render.STYLES)
def test_it_stylises_in_every_style_reproducibly(style):
    source = render.Source.from_bytes(pattern_jpeg(5, (800, 600)))
    first = render.stylize(source, style, long_side=400)
    again = render.stylize(source, style, long_side=400)
    assert first == again
    image = Image.open(io.BytesIO(first))
    assert image.format == "JPEG" and image.size == (400, 300)


def test_it_makes_the_styles_look_different():
    source = render.Source.from_bytes(pattern_jpeg(5, (800, 600)))
    outputs = {style: render.stylize(source, style, long_side=300) for style in render.STYLES}
    assert len(set(outputs.values())) == len(render.STYLES)
    assert len(render.STYLES) >= 4
    with pytest.raises(ValueError):
        render.stylize(source, "glitter")


def test_it_prefers_sharp_well_exposed_photos():
    sharp = Image.open(io.BytesIO(pattern_jpeg(2, (400, 300)))).convert("RGB")
    dark = Image.new("RGB", (400, 300), (8, 8, 8))
    assert render.photo_strength(sharp) > render.photo_strength(dark)


def test_the_recap_mp4_has_its_index_first_so_a_player_starts_from_the_first_piece():
    import av

    sources = [render.Source.from_bytes(pattern_jpeg(seed, (320, 240))) for seed in range(4)]
    data = render.recap_video(sources, size=96, title="Lisbon", dates="10–12 May")
    boxes = [kind for kind, _, _ in render._mp4_boxes(data)]
    assert boxes.index(b"moov") < boxes.index(b"mdat"), boxes
    # The file FFmpeg wrote (index at the end), moved: the same frames, so every chunk offset was moved
    # with the index. Compared with the same file, not with a second encoding: two encodings of the
    # same frames may differ by a rounding.
    import unittest.mock

    with unittest.mock.patch.object(render, "moov_first", lambda d: d):
        original = render.recap_video(sources, size=96, title="Lisbon", dates="10–12 May")
    assert [kind for kind, _, _ in render._mp4_boxes(original)][-1] == b"moov"
    moved = render.moov_first(original)
    moved_boxes = [kind for kind, _, _ in render._mp4_boxes(moved)]
    assert moved_boxes.index(b"moov") < moved_boxes.index(b"mdat"), moved_boxes
    assert len(moved) == len(original)

    def frames(mp4: bytes):
        with av.open(io.BytesIO(mp4)) as container:
            return [frame.to_ndarray().mean() for frame in container.decode(container.streams.video[0])]

    assert frames(moved) == frames(original)
