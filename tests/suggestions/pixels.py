"""Looking inside outputs: which source colours (tiles) they contain, frame by frame."""

import io

from PIL import Image, ImageChops, ImageSequence

from suggestions.models import Suggestion
from vault import gateway


def colours_in(image: Image.Image, palette, *, tolerance: int = 16, min_share: float = 0.002) -> set:
    """The palette colours covering at least min_share of the image: a source tile's fingerprint.

    A pixel counts for a colour when no channel is more than `tolerance` away from it."""
    small = image.convert("RGB").resize((160, max(1, round(160 * image.height / image.width))))
    total = small.width * small.height
    found = set()
    for colour in palette:
        red, green, blue = ImageChops.difference(small, Image.new("RGB", small.size, colour)).split()
        worst = ImageChops.lighter(ImageChops.lighter(red, green), blue)
        close = worst.point(lambda v: 255 if v <= tolerance else 0).histogram()[255]
        if close >= min_share * total:
            found.add(colour)
    return found


def frames(data: bytes) -> list[Image.Image]:
    image = Image.open(io.BytesIO(data))
    return [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]


def output_bytes(suggestion: Suggestion) -> bytes:
    return gateway.output_open(user_id=suggestion.owner_id, output_id=suggestion.output_id)


def colours_in_output(suggestion: Suggestion, palette) -> set:
    found = set()
    for frame in frames(output_bytes(suggestion)):
        found |= colours_in(frame, palette)
    return found
