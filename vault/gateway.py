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
    GatewayDenied,
    ItemMeta,
    OpenedContent,
    ReleasedItem,
    candidates,
    output_delete,
    output_open,
    output_store,
    outputs_meta,
    owner_open,
    release,
)
from vault.signals import media_uploaded  # noqa: F401

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
    "owner_open",
    "output_store",
    "output_open",
    "outputs_meta",
    "output_delete",
    "media_uploaded",
]
