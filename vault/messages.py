"""What vault tells other apps, published on the unit of work's channel (core.uow.subscribe).
Other apps reach these types through vault.gateway. They carry ids only: nothing of a photo."""

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaUploaded:
    """An upload committed (never a duplicate): subscribers hear it after commit."""

    user_id: int


@dataclass(frozen=True)
class MediaTrashed:
    """Photos moved to the trash: what was derived from them elsewhere (face data, invariant 11) goes
    in the same unit, not weeks later when the trash is emptied."""

    user_id: int
    item_ids: tuple[int, ...]
