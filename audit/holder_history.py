"""Reads for the holder's own page: is their access history verified, since when, and the download of it.

"Verified" is computed here, at each view, not stored: the newest commitment of the holder's log
(audit.selectors.holder_commitment) is checked with audit.holder_proof, the same code as
tools/monitor.py --holder: both notes signed, the committed entry the head of the holder
checkpoint, included in the signed global checkpoint. That costs one inclusion proof (a few tile
reads), whatever the history's length. The download holds the whole committed log, so the holder
can check it anywhere (docs/auditors.md, "Holder logs and the monitor").
"""

import base64
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from audit import holder_logs, holder_proof, notes, selectors
from audit.models import AuditCheckpoint, HolderCheckpoint
from core import signing


def verifier_key() -> str:
    return notes.verifier_key(settings.AUDIT_CHECKPOINT_ORIGIN, signing.public_key("AUDIT_SIGNING_KEY"))


@dataclass(frozen=True)
class HistoryProof:
    state: str  # "verified", "pending" (nothing committed yet) or "failed"
    entries: int = 0  # in the committed log
    since: datetime | None = None  # when the holder's log was first committed into the trail
    committed_at: datetime | None = None  # when the global checkpoint that includes its newest head was signed
    global_size: int = 0
    problem: str = ""


def holder_history_proof(*, subject_id: int) -> HistoryProof:
    found = selectors.holder_commitment(subject_id=subject_id)
    if found is None:
        return HistoryProof(state="pending")
    try:
        commitment = holder_proof.verify_commitment(found, verifier_key())
    except holder_proof.Invalid as exc:
        return HistoryProof(state="failed", problem=str(exc))
    if commitment.head.holder != subject_id:
        return HistoryProof(state="failed", problem="the committed head is another holder's")
    first = HolderCheckpoint.objects.filter(subject_id=subject_id).order_by("tree_size").values_list(
        "created_at", flat=True).first()
    signed = AuditCheckpoint.objects.filter(tree_size=commitment.global_checkpoint.tree_size).values_list(
        "created_at", flat=True).first()
    return HistoryProof(state="verified", entries=commitment.head.size, since=first, committed_at=signed,
                        global_size=commitment.global_checkpoint.tree_size)


def holder_history_download(*, subject_id: int) -> dict | None:
    """The holder's committed log with its proofs (format consentsvc-holder-log/1), checkable with
    `tools/monitor.py --holder FILE`; None while nothing of it is committed."""
    found = selectors.holder_commitment(subject_id=subject_id)
    if found is None:
        return None
    key = verifier_key()
    size = holder_proof.verify_commitment(found, key).head.size
    if size:  # never the bytes of an entry the service did not write (audit_entry_set_aside)
        selectors.refuse_untrusted(holder_logs.entry_seqs(subject_id, 0, size))
    bodies = holder_logs.entry_bundle(subject_id, 0, size) if size else []
    return {
        "format": holder_proof.BUNDLE_FORMAT,
        "verifier_key": key,
        "commitment": {**found, "verifier_key": key},
        "entries": [base64.b64encode(body).decode() for body in bodies],
    }
