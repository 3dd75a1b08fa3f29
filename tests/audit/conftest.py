import pytest

from audit.services import EventInput, audit_append_many, audit_checkpoint_create
from tests.audit import legacy


@pytest.fixture
def many_events(db):
    """make(n) appends n small, varied events in one batch and returns them."""

    def make(n: int, **overrides):
        events = [
            EventInput(
                action=("media.read", "consent.given", "media.upload_refused")[i % 3],
                actor_kind=("holder", "service", "support")[i % 3],
                actor_id=str(i % 5),
                subject_id=i % 4 + 1,
                object_type="media_item",
                object_id=i,
                purpose="camera_roll_cloud_processing",
                outcome=("allowed", "allowed", "denied")[i % 3],
                details={"count": i},
                **overrides,
            )
            for i in range(n)
        ]
        return audit_append_many(events=events)

    return make


@pytest.fixture
def both_formats(settings, many_events):
    """Seqs 1 to 7 in the chained format (v 2, written before entries), 8 to 16 entries (v 3), and a
    checkpoint every 5 (committed, in a transactional test)."""
    settings.AUDIT_CHECKPOINT_EVERY = 5
    legacy.append_chained(7)
    many_events(9)
    audit_checkpoint_create()
