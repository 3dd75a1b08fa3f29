"""A suggestion lives only as long as its output, and the output only as long as its sources."""

import pytest

from core.uow import Actor
from suggestions.models import Suggestion
from vault import services as vault_services
from vault import shredding as vault_shredding
from vault.models import DerivedOutput

pytestmark = pytest.mark.django_db


def sources_of(suggestion) -> list[int]:
    return list(DerivedOutput.objects.get(pk=suggestion.output_id).sources.values_list("pk", flat=True))


def test_it_records_which_photos_each_output_came_from(made):
    for suggestion in made:
        assert len(sources_of(suggestion)) == suggestion.source_count


def test_it_loses_the_suggestions_made_from_a_deleted_photo(made, alice):
    collage = next(s for s in made if s.kind == "collage")
    gone = sources_of(collage)[0]
    vault_services.media_delete(user_id=alice.pk, item_id=gone)
    left = Suggestion.objects.filter(owner=alice)
    assert collage.pk not in set(left.values_list("pk", flat=True))
    assert all(gone not in sources_of(s) for s in left)


def test_it_loses_the_suggestions_made_from_a_photo_kept_out(made, alice):
    collage = next(s for s in made if s.kind == "collage")
    vault_services.media_set_excluded(user_id=alice.pk, item_id=sources_of(collage)[-1], excluded=True)
    assert not Suggestion.objects.filter(pk=collage.pk).exists()


def test_it_loses_every_suggestion_on_erasure(made, alice):
    vault_shredding.media_erase_all(user_id=alice.pk, actor=Actor.holder(alice.pk))
    assert not Suggestion.objects.filter(owner=alice, status__in=["new", "accepted"]).exists()
    assert not DerivedOutput.objects.filter(owner=alice).exists()
