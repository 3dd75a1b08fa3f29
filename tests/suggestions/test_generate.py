import pytest

from audit.models import AuditEvent
from suggestions import services
from suggestions.models import Suggestion, SuggestionJob
from tests.suggestions.conftest import COLOURS, a_day_out, grant


@pytest.mark.django_db
def test_it_makes_suggestions_from_a_day_out(alice):
    grant(alice)
    ids = a_day_out(alice, COLOURS[:8])
    result = services.suggestions_generate(user_id=alice.pk)
    assert result.status == SuggestionJob.Status.DONE, result
    made = list(Suggestion.objects.filter(owner=alice))
    print([(s.kind, s.title, s.source_count) for s in made])
    assert made
    reads = AuditEvent.objects.filter(action="media.read", subject_id=alice.pk)
    assert {int(e.object_id) for e in reads} <= set(ids)
