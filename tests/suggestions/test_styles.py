"""Styles look like their names, and keep looking the way they were approved (visual regression).

Each style is rendered from one real camera photo and compared with the image stored beside it in
tests/fixtures/styles/ (regenerated only on purpose, with make_expected.py). The tolerance allows
what a different Pillow or JPEG library changes (a few levels here and there), not a different look.
"""

import io
import pathlib

import pytest
from PIL import Image, ImageChops, ImageStat

from suggestions import render

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
SOURCE = FIXTURES / "photos" / "gps" / "DSCN0010.jpg"
MEAN_TOLERANCE = 4.0  # mean absolute difference per channel, of 255
FAR_SHARE = 0.03  # share of pixels allowed to differ by more than FAR_LEVELS
FAR_LEVELS = 64


def rendered(style: str, long_side: int = 320) -> Image.Image:
    source = render.Source.from_bytes(SOURCE.read_bytes())
    return Image.open(io.BytesIO(render.stylize(source, style, long_side=long_side))).convert("RGB")


def difference(a: Image.Image, b: Image.Image) -> tuple[float, float]:
    diff = ImageChops.difference(a, b)
    mean = sum(ImageStat.Stat(diff).mean) / 3
    worst = diff.convert("L").point(lambda v: 255 if v > FAR_LEVELS else 0).histogram()[255]
    return mean, worst / (a.width * a.height)


@pytest.mark.parametrize("style", render.STYLES)
def test_it_renders_each_style_as_approved(style):
    expected = Image.open(FIXTURES / "styles" / f"{style}.png").convert("RGB")
    got = rendered(style)
    assert got.size == expected.size
    mean, far = difference(got, expected)
    assert mean <= MEAN_TOLERANCE and far <= FAR_SHARE, (style, mean, far)


@pytest.mark.parametrize("style", render.STYLES)
def test_it_tells_a_different_style_from_the_approved_one(style):
    """The comparison can fail: every other style is far outside the tolerance."""
    expected = Image.open(FIXTURES / "styles" / f"{style}.png").convert("RGB")
    for other in render.STYLES:
        if other != style:
            mean, far = difference(rendered(other), expected)
            assert mean > MEAN_TOLERANCE or far > FAR_SHARE, (style, other)


def _saturation(image: Image.Image) -> float:
    return ImageStat.Stat(image.convert("HSV").getchannel("S")).mean[0]


def test_it_draws_a_sketch_in_pencil_on_paper():
    sketch = rendered("sketch")
    gray = sketch.convert("L")
    histogram = gray.histogram()
    total = sum(histogram)
    paper = sum(histogram[200:]) / total
    strokes = sum(histogram[:110]) / total
    assert _saturation(sketch) < 25  # graphite, not colour
    assert paper > 0.25 and 0.03 < strokes < 0.6  # mostly paper, with drawn lines and shading
    # Not an emboss: no mid-grey relief field; the page is light on average.
    assert ImageStat.Stat(gray).mean[0] > 150


def test_it_draws_a_comic_with_flat_colour_and_dark_outlines():
    # The style itself, before JPEG: at 320 px it is worked out at this size (no rescaling blur).
    source = render.Source.from_bytes(SOURCE.read_bytes()).decode((320, 240)).resize((320, 240))
    comic = render.style_comic(source)
    colours = comic.getcolors(maxcolors=1 << 16)
    assert colours is not None
    ink = sum(count for count, colour in colours if colour == render.COMIC_INK)
    flat = sorted((count for count, colour in colours if colour != render.COMIC_INK), reverse=True)
    pixels = comic.width * comic.height
    assert 0.04 < ink / pixels < 0.5  # outlines, not a black page
    assert sum(flat[:10]) + ink >= 0.97 * pixels  # a handful of flat colours fill the rest
    assert _saturation(comic) > _saturation(rendered("noir")) + 40


def test_it_keeps_noir_grey_vintage_warm_and_film_lifted():
    noir = rendered("noir")
    red, green, blue = noir.split()
    assert ImageChops.difference(red, blue).getbbox() is None and ImageChops.difference(red, green).getbbox() is None
    vintage = ImageStat.Stat(rendered("vintage")).mean
    assert vintage[0] > vintage[2] + 15
    film = rendered("film").convert("L")
    width, height = film.size
    centre = film.crop((width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    assert centre.getextrema()[0] >= 8  # blacks lifted, as film prints them
