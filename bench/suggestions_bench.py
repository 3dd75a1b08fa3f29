#!/usr/bin/env python
"""Suggestion engine benchmark: outputs from 12-megapixel photos read through vault.gateway.

    .venv/bin/python bench/suggestions_bench.py              # SQLite in a throwaway VAR_DIR
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/suggestions_bench.py
                                                             # PostgreSQL (a throwaway database bench_suggestions)

Prints medians of --repeat runs, each beside what Pillow alone needs to decode the same
inputs fully (and, for the collage, in draft mode at the sizes the collage cells need),
measured in the same run:
- a 9-photo collage of 12-MP JPEGs: gateway release (consent check, audit, decryption) +
  draft decode + layout + crops + JPEG encode. Targets < 0.7 s and <= 2x the draft decode;
- a recap of 4 photos (title card, Ken Burns pan and zoom): the animated WebP (target < 2 s) and
  the H.264 MP4 (PyAV) beside it, same sources, same run;
- a stylised image from one photo (every style; the slowest counts): target < 0.5 s, and how it
  compares with Pillow's full decode of that photo;
- faces (dlib detection + 5-point landmarks + ResNet embeddings) on photos decoded at most
  1024 px: faces per second, and the share of a generation pass that face grouping costs (the
  same photos, a pass with face_analysis on against one with it off), medians of 3;
- a full generation pass for a holder with --items photos (default 500, 12 MP each):
  candidates, plans, thumbnails for near-duplicates, originals, rendering, storing. Target < 60 s.
  Setting up the holder (making and uploading the photos) is timed apart and not counted.
"""

import argparse
import datetime as dt
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"collage": 0.7, "collage_vs_draft": 2.0, "recap": 2.0, "stylized": 0.5, "pass": 60.0,
           "faces_per_second": 2.0, "faces_share": 0.5}
WIDTH, HEIGHT = 4000, 3000  # 12 megapixels


def _setup(var_dir: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consentsvc.settings")
    os.environ["DJANGO_ENV"] = "test"
    os.environ["VAR_DIR"] = var_dir
    import django

    django.setup()
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db["NAME"] = str(Path(var_dir) / "bench.sqlite3")
    else:
        db["NAME"] = "bench_suggestions"
        _recreate_postgres(db)
    settings.STORAGES["default"]["OPTIONS"]["location"] = str(Path(var_dir) / "blobs")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _recreate_postgres(db) -> None:
    import psycopg

    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                         password=db["PASSWORD"] or None, dbname="postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_suggestions")
        conn.execute("CREATE DATABASE bench_suggestions")


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ------------------------------------------------------------------ photos like a camera's


class Scenes:
    """Photo-like 12-MP pictures, cheap to vary: one textured base, recoloured and cropped per shot.

    JPEG decode time depends on how busy the picture is, so the base has fine noise, gradients
    and shapes of every size, and compresses to 2-4 MB at quality 90 like a phone photo.
    """

    def __init__(self, seed: int = 7):
        from PIL import Image, ImageDraw, ImageFilter

        self.rng = random.Random(seed)
        w, h = WIDTH + 400, HEIGHT + 400
        gradient = Image.linear_gradient("L").resize((w, h))
        base = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90).resize((w, h)),
                                   Image.effect_noise((w // 6, h // 6), 70).resize((w, h))))
        draw = ImageDraw.Draw(base)
        for _ in range(260):
            x, y, r = self.rng.randrange(w), self.rng.randrange(h), self.rng.randrange(8, 500)
            colour = tuple(self.rng.randrange(256) for _ in range(3))
            (draw.ellipse if self.rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
        base = base.filter(ImageFilter.GaussianBlur(1.2))
        grain = Image.effect_noise((w, h), 40).convert("RGB")
        self.base = Image.blend(base, grain, 0.12)

    def shot(self, scene: int, take: int, *, portrait: bool = False):
        from PIL import Image

        rng = random.Random(scene * 1000 + take)
        left, top = (scene * 37 + take * 23) % 400, (scene * 53 + take * 11) % 400
        image = self.base.crop((left, top, left + WIDTH, top + HEIGHT))
        # A scene of its own: channels swapped and scaled.
        channels = image.split()
        order = [channels[i] for i in rng.sample(range(3), 3)]
        factors = [0.6 + 0.8 * rng.random() for _ in range(3)]
        image = Image.merge("RGB", [c.point(lambda v, f=f: min(255, int(v * f))) for c, f in zip(order, factors,
                                                                                                   strict=True)])
        if portrait:
            image = image.transpose(Image.Transpose.ROTATE_90)
        return image


def _jpeg(image, *, when: dt.datetime | None = None, where: tuple[float, float] | None = None) -> bytes:
    from PIL import ExifTags, Image
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    if when:
        stamp = when.strftime("%Y:%m:%d %H:%M:%S")
        exif[ExifTags.Base.DateTime] = stamp
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = stamp
    if where:
        def dms(value):
            value = abs(value)
            d, m = int(value), int((value - int(value)) * 60)
            s = round(((value - d) * 60 - m) * 60 * 100)
            return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(s, 100))

        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if where[0] >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = dms(where[0])
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if where[1] >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = dms(where[1])
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def _holder(name: str):
    from accounts import services as accounts
    from consent import purposes, selectors
    from consent import services as consent

    user = accounts.user_create(username=name, password=os.urandom(16).hex(), role="holder")
    version = selectors.notice_current(purpose=purposes.CAMERA_ROLL).version
    consent.consent_give(user=user, purpose=purposes.CAMERA_ROLL, notice_version=version, method="api")
    return user


def _upload(user, data: bytes, labels=()) -> int:
    from vault.services import media_upload

    return media_upload(user_id=user.pk, data=data, labels=list(labels), method="api").item.pk


PLACES = [(38.7223, -9.1393), (41.1496, -8.6109), (51.5072, -0.1276), (48.8566, 2.3522), (43.4675, 11.8851),
          (40.4168, -3.7038), (52.52, 13.405), (45.4642, 9.19)]
LABELS = ["beach", "dog", "food", "park", "birthday", "snow", "city", "sunset"]


def _camera_roll(user, scenes: Scenes, items: int) -> list[int]:
    """A year of a camera roll: home most days, some trips, bursts of a few takes per scene."""
    rng = random.Random(11)
    ids, start = [], dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
    scene, moment = 0, start
    while len(ids) < items:
        scene += 1
        trip = rng.random() < 0.25
        where = PLACES[rng.randrange(1, len(PLACES))] if trip else PLACES[0]
        label = [LABELS[rng.randrange(len(LABELS))]] if rng.random() < 0.5 else []
        moment += dt.timedelta(hours=rng.choice([2, 5, 20, 30, 70]))
        for take in range(min(rng.choice([1, 2, 3, 5]), items - len(ids))):
            image = scenes.shot(scene, take, portrait=rng.random() < 0.3)
            when = moment + dt.timedelta(seconds=7 * take)
            ids.append(_upload(user, _jpeg(image, when=when, where=where), label))
    return ids


# ------------------------------------------------------------------ the benchmarks


def _decode_full(datas) -> None:
    from PIL import Image

    for data in datas:
        with Image.open(io.BytesIO(data)) as image:
            image.load()


def bench_outputs(user, item_ids: list[int], repeat: int) -> dict:
    from PIL import Image

    from suggestions import render
    from vault import gateway

    nine = item_ids[:9]
    four = item_ids[:4]

    def released(ids):
        return gateway.release(user_id=user.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=ids)

    datas = [r.data for r in released(nine)]
    sources = [render.Source.from_bytes(d) for d in datas]
    layout = render.choose_layout([s.aspect for s in sources])

    def draft_decode_for_cells():
        for data, source, (_, _, w, h) in zip(datas, sources, layout.cells, strict=True):
            want = render.cover_size((source.width, source.height), (w, h))
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (int(want[0]) + 1, int(want[1]) + 1))
                image.load()

    # The collage and its baselines take turns, so a busy moment of a shared machine hits all of them.
    collage, draft, full = [], [], []
    for _ in range(repeat):
        for fn, times in (
            (lambda: render.collage([render.Source.from_bytes(r.data) for r in released(nine)]), collage),
            (draft_decode_for_cells, draft),
            (lambda: _decode_full(datas), full),
        ):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    figures = {
        "collage": statistics.median(collage),
        "collage draft decode": statistics.median(draft),
        "collage ratio": statistics.median(c / d for c, d in zip(collage, draft, strict=True)),
        "collage full decode": statistics.median(full),
        "recap": _median(lambda: render.recap([render.Source.from_bytes(r.data) for r in released(four)]), repeat),
        "recap mp4": _median(
            lambda: render.recap_video([render.Source.from_bytes(r.data) for r in released(four)]), repeat
        ),
        "recap full decode": _median(lambda: _decode_full(datas[:4]), repeat),
        "stylized full decode": _median(lambda: _decode_full(datas[:1]), repeat),
    }
    frames = Image.open(io.BytesIO(render.recap([render.Source.from_bytes(d) for d in datas[:4]]))).n_frames
    figures["recap frames"] = frames
    figures["collage layout"] = layout.name
    styles = {}
    for style in render.STYLES:
        styles[style] = _median(
            lambda style=style: render.stylize(render.Source.from_bytes(released(nine[:1])[0].data), style), repeat
        )
    figures["stylized"] = max(styles.values())
    figures["styles"] = styles
    return figures


def bench_pass(user, repeat: int, limit: int | None = None, forget_faces: bool = False) -> dict:
    from suggestions import services
    from suggestions.models import Suggestion
    from vault import gateway

    read: list[bytes] = []
    real_release = gateway.release

    def counting_release(**kwargs):
        items = real_release(**kwargs)
        read.extend(item.data for item in items)
        return items

    times, made = [], []
    for _ in range(repeat):
        for suggestion in Suggestion.objects.filter(owner=user):  # start from nothing made
            for output_id in (suggestion.output_id, suggestion.video_output_id):
                if output_id is not None:
                    gateway.output_delete(user_id=user.pk, output_id=output_id)
        Suggestion.objects.filter(owner=user).delete()
        if forget_faces:
            from suggestions.models import FaceScan, Person

            FaceScan.objects.filter(owner=user).delete()
            Person.objects.filter(owner=user).delete()
        read.clear()
        services.gateway.release = counting_release
        try:
            start = time.perf_counter()
            result = services.suggestions_generate(user_id=user.pk, limit=limit)
            times.append(time.perf_counter() - start)
        finally:
            services.gateway.release = real_release
        made.append(sorted(Suggestion.objects.filter(owner=user).values_list("kind", flat=True)))
    start = time.perf_counter()
    _decode_full(read)
    decode = time.perf_counter() - start
    return {"pass": statistics.median(times), "pass full decode": decode, "reads": len(read),
            "made": made[-1], "status": result.status}


FACES = ROOT / "tests" / "fixtures" / "faces"


def _portraits_in_scenes(scenes: Scenes, count: int) -> list[bytes]:
    """12-MP photos with a real face in each (the test portraits, enlarged, pasted into a scene)."""
    from PIL import Image

    portraits = [Image.open(FACES / f"{name}.jpg").convert("RGB") for name in ("obama", "obama2", "biden")]
    photos = []
    for n in range(count):
        scene = scenes.shot(2000 + n, 0)
        portrait = portraits[n % len(portraits)]
        scale = 2400 / portrait.height
        portrait = portrait.resize((round(portrait.width * scale), 2400))
        scene.paste(portrait, ((n * 400) % (WIDTH - portrait.width), 300))
        when = dt.datetime(2025, 8, 2, 10, tzinfo=dt.UTC) + dt.timedelta(minutes=10 * n)
        photos.append(_jpeg(scene, when=when, where=PLACES[0]))
    return photos


def bench_faces(scenes: Scenes, count: int, repeat: int) -> dict:
    """Faces per second on <= 1024 px decodes, and a pass with face grouping on against off."""
    from consent import purposes, selectors
    from consent import services as consent
    from suggestions import faces, people

    photos = _portraits_in_scenes(scenes, count)
    decoded = [people._decode(data) for data in photos]
    faces.find_faces(decoded[0])  # load the models once, outside the timing
    found = []

    def analyse():
        found.clear()
        for image in decoded:
            found.extend(faces.find_faces(image))

    analysis = _median(analyse, repeat)
    decode = _median(lambda: [people._decode(data) for data in photos], repeat)
    off = _holder("bench-faces-off")
    on = _holder("bench-faces-on")
    version = selectors.notice_current(purpose=purposes.FACE_ANALYSIS).version
    consent.consent_give(user=on, purpose=purposes.FACE_ANALYSIS, notice_version=version, method="api")
    for holder in (off, on):
        for data in photos:
            _upload(holder, data)
    runs = max(1, min(3, repeat))
    without = bench_pass(off, runs)
    with_faces = bench_pass(on, runs, forget_faces=True)
    return {
        "photos": count, "faces": len(found), "analysis": analysis, "decode": decode,
        "faces per second": len(found) / analysis if analysis else 0.0,
        "pass off": without["pass"], "pass on": with_faces["pass"],
        "share": max(0.0, with_faces["pass"] - without["pass"]) / with_faces["pass"],
        "made on": with_faces["made"],
    }


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def render_settings() -> str:
    from suggestions import render

    return f"{render.RECAP_VIDEO_SIZE} px, {render.RECAP_VIDEO_FPS} fps, libx264 veryfast"


def _kinds(made: list[str]) -> str:
    return ", ".join(f"{made.count(kind)} {kind}" for kind in sorted(set(made)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=500, help="photos of the holder of the full pass")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (medians); the full pass runs 3")
    parser.add_argument("--heavy", type=int, default=24, help="suggestions the heavier pass may make")
    parser.add_argument("--faces", type=int, default=12, help="photos with faces for the face figures (0: skip)")
    parser.add_argument("--skip-pass", action="store_true", help="leave out the full generation pass")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="suggestions-bench-") as var_dir:
        _setup(var_dir)
        from django.conf import settings

        started = time.perf_counter()
        scenes = Scenes()
        outputs_holder = _holder("bench-outputs")
        ids = []
        for n in range(9):
            image = scenes.shot(1000 + n, 0, portrait=n % 3 == 2)
            ids.append(_upload(outputs_holder, _jpeg(image)))
        out = bench_outputs(outputs_holder, ids, args.repeat)
        ratio = out["collage ratio"]
        print(f"\nOutputs from 12-MP JPEGs through vault.gateway (release, audit, decryption included), "
              f"median of {args.repeat}")
        print(f"  9-photo collage ({out['collage layout']}): {out['collage']:.3f} s "
              f"(target < {TARGETS['collage']} s: {_verdict(out['collage'] < TARGETS['collage'])})")
        print(f"    = {ratio:.2f}x Pillow's draft decode of the nine at cell size, {out['collage draft decode']:.3f} s "
              f"(median of per-round ratios; target <= {TARGETS['collage_vs_draft']}x: "
              f"{_verdict(ratio <= TARGETS['collage_vs_draft'])})")
        print(f"    Pillow's full decode of the nine: {out['collage full decode']:.3f} s")
        print(f"  {out['recap frames']}-frame recap (animated WebP, 4 photos, title card, pan and zoom): "
              f"{out['recap']:.3f} s (target < {TARGETS['recap']} s: {_verdict(out['recap'] < TARGETS['recap'])}); "
              f"Pillow's full decode of the four: {out['recap full decode']:.3f} s")
        print(f"    the same recap as H.264 MP4 ({render_settings()}): {out['recap mp4']:.3f} s "
              f"= {out['recap mp4'] / out['recap']:.2f}x the WebP")
        styles = ", ".join(f"{k} {v:.3f}" for k, v in out["styles"].items())
        print(f"  stylised image, slowest style: {out['stylized']:.3f} s "
              f"(target < {TARGETS['stylized']} s: {_verdict(out['stylized'] < TARGETS['stylized'])}); "
              f"Pillow's full decode of the one: {out['stylized full decode']:.3f} s "
              f"(slowest style = {out['stylized'] / out['stylized full decode']:.2f}x it)\n    by style: {styles}")

        if args.faces:
            f = bench_faces(scenes, args.faces, args.repeat)
            print(f"\nFaces on {f['photos']} 12-MP photos decoded at most 1024 px, median of {args.repeat}")
            print(f"  detection + landmarks + embeddings: {f['analysis']:.2f} s for {f['faces']} faces = "
                  f"{f['faces per second']:.1f} faces/s (target >= {TARGETS['faces_per_second']}: "
                  f"{_verdict(f['faces per second'] >= TARGETS['faces_per_second'])}); the <= 1024 px decodes "
                  f"alone: {f['decode']:.2f} s")
            print(f"  a pass over them with face_analysis off: {f['pass off']:.2f} s; on (analysis and grouping "
                  f"included): {f['pass on']:.2f} s; face grouping's share of the pass: {f['share']:.0%} "
                  f"(target <= {TARGETS['faces_share']:.0%}: {_verdict(f['share'] <= TARGETS['faces_share'])}); "
                  f"made {_kinds(f['made on'])}")

        if args.skip_pass:
            print(f"\n(total run {time.perf_counter() - started:.0f} s)")
            return
        holder = _holder("bench-pass")
        setup_start = time.perf_counter()
        _camera_roll(holder, scenes, args.items)
        setup = time.perf_counter() - setup_start
        runs = max(1, min(3, args.repeat))
        figures = bench_pass(holder, runs)
        print(f"\nFull generation pass, a holder with {args.items} photos of 12 MP (setting them up took "
              f"{setup:.0f} s, not counted), median of {runs}")
        print(f"  pass (SUGGESTIONS_PER_PASS={settings.SUGGESTIONS_PER_PASS}): {figures['pass']:.2f} s "
              f"(target < {TARGETS['pass']} s: {_verdict(figures['pass'] < TARGETS['pass'])}), {figures['status']}, "
              f"made {_kinds(figures['made'])}")
        print(f"    it read {figures['reads']} items (thumbnails and originals); Pillow's full decode of exactly "
              f"those bytes: {figures['pass full decode']:.2f} s")
        heavy = bench_pass(holder, 1, limit=args.heavy)
        print(f"  a heavier pass allowed {args.heavy} suggestions: {heavy['pass']:.2f} s, "
              f"made {_kinds(heavy['made'])}, read {heavy['reads']} items; Pillow's full decode of those: "
              f"{heavy['pass full decode']:.2f} s")
        print(f"\n(total run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
