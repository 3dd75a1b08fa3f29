"""The one door decrypted media leaves the vault through (invariant 2).

Every read names a purpose and is checked at that moment: the purpose must be one a
holder can grant and is granted now (under the account lock every consent change
takes), and the item must not be excluded by the holder (the item itself, a date
range or a place). Every item released is audited, one ``media.read`` event each,
appended as a batch before anything is returned. ``advertising`` and
``model_training`` are never released and are audited as denials.

This is the only module of ``vault`` that ``suggestions`` may import (import-linter).
"""

from vault.gateway_core import (  # noqa: F401 (the facade re-exports exactly these)
    PURPOSE_FACES,
    PURPOSE_OWNER,
    PURPOSE_SUGGESTIONS,
    PURPOSES,
    FaceSealer,
    GatewayDenied,
    ItemMeta,
    OpenedContent,
    RangedOutput,
    ReleasedItem,
    ReleasedRange,
    candidates,
    faces_open,
    faces_sealing,
    held_count,
    output_delete,
    output_open,
    output_ranged,
    output_shared_open,
    output_shared_ranged,
    output_store,
    outputs_meta,
    owner_open,
    release,
    release_ranges,
    video_candidates,
)
from vault.held import held_counter_register, held_counts  # noqa: F401
from vault.messages import MediaTrashed, MediaUploaded  # noqa: F401
from vault.ranges import ByteRange, RangeNotSatisfiable, ranged_response  # noqa: F401

__all__ = [
    "PURPOSE_SUGGESTIONS",
    "PURPOSE_FACES",
    "PURPOSE_OWNER",
    "PURPOSES",
    "GatewayDenied",
    "ItemMeta",
    "ReleasedItem",
    "OpenedContent",
    "candidates",
    "release",
    # a video's content leaves only as time ranges (frames or a short clip), each audited
    "ReleasedRange",
    "video_candidates",
    "release_ranges",
    "owner_open",
    "output_store",
    "output_open",
    "outputs_meta",
    "output_delete",
    "MediaUploaded",
    # for the suggestion engine's share links, empty-pass reasons and face data (invariant 11)
    "MediaTrashed",
    "held_count",
    "output_shared_open",
    "FaceSealer",
    "faces_sealing",
    "faces_open",
    # serving an output in pieces, so a <video> can seek (HTTP Range)
    "RangedOutput",
    "output_ranged",
    "output_shared_ranged",
    "ByteRange",
    "RangeNotSatisfiable",
    "ranged_response",
    # counts of what other apps hold, for erase and revoke confirmations (vault.held)
    "held_counter_register",
    "held_counts",
]
