"""Faces in photos, with dlib: detection, 5-point landmarks and 128-number embeddings.

The models are the ones the ``face-recognition-models`` package ships (dlib's 5-point shape
predictor and its ResNet face-recognition network); nothing is downloaded at run time. Pure
functions on Pillow images and plain numbers: reading photos (through the gateway, under the
face-grouping purpose, only with face_analysis granted) and keeping the results (sealed under
the holder's faces key) is people.py's job.

Grouping follows dlib's usual rule for this network: two faces closer than 0.6 (Euclidean
distance between embeddings) are the same person. New faces join the person of their nearest
known face within that distance, else start a new person, so grouping is incremental and the
people a holder has named keep their ids.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

MAX_SIDE = 1024  # photos are decoded at most this large for face work
UPSAMPLE = 1  # the detector looks at a 2x upsampled copy too: faces down to ~40 px at 1024
MIN_FACE_FRACTION = 0.04  # faces smaller than this share of the photo's longer side are left out
SAME_PERSON = 0.6


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # left, top, right, bottom as fractions of width and height
    embedding: tuple[float, ...]  # 128 numbers

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@functools.cache
def _models():
    import dlib
    import face_recognition_models

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location()),
        dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location()),
    )


def available() -> bool:
    """Whether dlib and the models are installed (they are requirements; this is for a clear error)."""
    try:
        _models()
    except (ImportError, RuntimeError):
        return False
    return True


def prepare(image: Image.Image) -> Image.Image:
    """RGB, at most MAX_SIDE pixels on the longer side."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    return image


def find_faces(image: Image.Image, *, upsample: int = UPSAMPLE) -> list[Face]:
    """Every face in the photo, biggest first, each with its embedding."""
    import numpy

    detector, predictor, network = _models()
    image = prepare(image)
    pixels = numpy.asarray(image)
    width, height = image.size
    smallest = MIN_FACE_FRACTION * max(width, height)
    found = []
    for rect in detector(pixels, upsample):
        left, top = max(0, rect.left()), max(0, rect.top())
        right, bottom = min(width, rect.right()), min(height, rect.bottom())
        if right - left < smallest or bottom - top < smallest:
            continue
        shape = predictor(pixels, rect)
        embedding = tuple(float(v) for v in network.compute_face_descriptor(pixels, shape))
        found.append(Face((left / width, top / height, right / width, bottom / height), embedding))
    found.sort(key=lambda face: -face.area)
    return found


def distance(a: Sequence[float], b: Sequence[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def assign(
    photos: Sequence[Sequence[Sequence[float]]],
    known: Sequence[tuple[int, Sequence[float]]],
    *,
    threshold: float = SAME_PERSON,
    next_id,
) -> list[list[int]]:
    """A person id for each face of each new photo: the person of the nearest known face closer
    than threshold, else a new person (``next_id()`` makes one). Two faces of one photo are two
    people. Faces assigned here count as known for the ones after them, so two new photos of
    one stranger start one person, not two."""
    pool = list(known)
    result = []
    for embeddings in photos:
        taken: set[int] = set()
        people = []
        for embedding in embeddings:
            best, best_distance = None, threshold
            for person, other in pool:
                if person in taken:
                    continue
                d = distance(embedding, other)
                if d < best_distance:
                    best, best_distance = person, d
            if best is None:
                best = next_id()
            taken.add(best)
            people.append(best)
        pool.extend(zip(people, embeddings, strict=True))
        result.append(people)
    return result
