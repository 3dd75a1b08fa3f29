import datetime as dt
import io

import pytest
from PIL import Image

from suggestions import planning, services
from suggestions.models import Suggestion, SuggestionJob
from tests.suggestions.conftest import COLOURS, a_day_out, grant, photo, titled, upload
from tests.suggestions.factories import LISBON
from vault.models import DerivedOutput


@pytest.mark.django_db
def test_it_makes_a_collage_a_recap_and_a_stylised_image_of_a_day_out(alice):
    grant(alice)
    ids = a_day_out(alice, COLOURS[:8])
    result = services.suggestions_generate(user_id=alice.pk)
    assert result.status == SuggestionJob.Status.DONE
    made = {s.kind: s for s in titled(alice)}
    assert set(made) == {"collage", "recap", "stylized"}
    assert made["collage"].title == "Saturday in Lisbon" and made["collage"].source_count == 8
    assert made["recap"].source_count == 6
    assert made["stylized"].source_count == 1 and made["stylized"].title.startswith("Saturday in Lisbon, ")
    assert sorted(result.created) == sorted(s.pk for s in made.values())
    assert len(ids) == 8


def plan(kind, group, score, style=""):
    return planning.Plan(kind, group, f"title {group}", (1, 2, 3), score, style)


def test_it_takes_one_plan_per_group_first_with_the_kinds_taking_turns():
    plans = [
        plan("collage", "a", 9), plan("recap", "a", 8.9), plan("stylized", "a", 8.8, "film"),
        plan("collage", "b", 7), plan("recap", "b", 6.9),
        plan("collage", "c", 5), plan("stylized", "c", 4.9, "film"),
    ]
    chosen = services._choose(plans, existing=set(), limit=4)
    assert [(p.kind, p.group) for p in chosen] == [("collage", "a"), ("recap", "b"), ("stylized", "c"),
                                                   ("recap", "a")]
    assert services._choose(plans, existing={plans[0].key}, limit=1)[0].kind == "recap"


def test_it_gives_the_stylised_images_of_a_pass_different_styles():
    varied = services._vary_styles([plan("stylized", "a", 3, "sketch"), plan("stylized", "b", 2, "sketch"),
                                    plan("collage", "c", 1)])
    assert varied[0].style == "sketch" and varied[1].style not in ("sketch", "")
    assert varied[1].full_title.startswith("title b, ") and varied[2].style == ""
    assert varied[0].key == plan("stylized", "a", 0, "noir").key  # the style is not part of what was made


@pytest.mark.django_db
def test_it_skips_a_suggestion_it_cannot_render_and_makes_the_others(alice, monkeypatch):
    grant(alice)
    a_day_out(alice, COLOURS[:8])
    real_render = services._render

    def broken_collage(plan, released, meta, *clips):
        if plan.kind == "collage":
            raise OSError("image file is truncated")
        return real_render(plan, released, meta, *clips)

    monkeypatch.setattr(services, "_render", broken_collage)
    result = services.suggestions_generate(user_id=alice.pk)
    assert result.status == SuggestionJob.Status.DONE and result.discarded == 1
    assert set(Suggestion.objects.filter(owner=alice).values_list("kind", flat=True)) == {"recap", "stylized"}


@pytest.mark.django_db
def test_it_moves_on_when_the_best_group_is_one_burst_of_the_same_shot(alice, settings):
    settings.SUGGESTIONS_PER_PASS = 1
    grant(alice)
    varied = a_day_out(alice, COLOURS[:4], day=dt.datetime(2024, 5, 4, 10, tzinfo=dt.UTC))
    burst = dt.datetime(2025, 6, 14, 10, tzinfo=dt.UTC)  # bigger and newer, so it ranks first: but one shot
    for n, quality in enumerate((95, 92, 89, 86, 83, 80, 77, 74)):
        shot = photo(COLOURS[5], when=burst + dt.timedelta(seconds=n), where=LISBON)
        upload(alice, recompressed(shot, quality))
    result = services.suggestions_generate(user_id=alice.pk)
    assert len(result.created) == 1 and result.discarded == 0
    made = Suggestion.objects.get(pk=result.created[0])
    sources = set(DerivedOutput.objects.get(pk=made.output_id).sources.values_list("pk", flat=True))
    assert made.kind == "stylized" or sources <= set(varied)


def recompressed(data: bytes, quality: int) -> bytes:
    image = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=image.info.get("exif", b""))
    return out.getvalue()
