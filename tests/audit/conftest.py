import pytest

from audit.services import EventInput, audit_append_many


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
