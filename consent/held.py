"""What turning a consent off would destroy, counted by the app that holds it.

consent sits below vault (vault checks consent before it stores anything), so consent does not
import vault: vault registers its counter here at start (VaultConfig.ready). The counts are
numbers and sizes only, never content.
"""

from collections.abc import Callable

NOTHING_HELD = {"items": 0, "items_bytes": 0, "outputs": 0, "outputs_bytes": 0, "last_upload_at": None, "trashed": 0}

_counter: Callable[..., dict] | None = None


def held_counter_register(*, counter: Callable[..., dict]) -> None:
    """`counter(user_id=...)` answers with the keys of NOTHING_HELD."""
    global _counter
    _counter = counter


def held_summary(*, user_id: int) -> dict:
    return _counter(user_id=user_id) if _counter is not None else dict(NOTHING_HELD)


def media_words(held: dict) -> str:
    """The items of a summary as the pages say them: "3 photos", "3 photos and 1 video", "1 video",
    "0 photos". Every video (one in the trash too) counts as a video, the rest as photos."""
    videos = held.get("videos", 0)
    photos = held["items"] - videos
    said = [f"{count} {one if count == 1 else many}"
            for count, one, many in ((photos, "photo", "photos"), (videos, "video", "videos")) if count]
    return " and ".join(said) or "0 photos"
