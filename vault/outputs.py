"""Deleting derived outputs inside an account's unit of work: rows now, one event each, blobs
after commit. Below vault.services, vault.trash and vault.shredding, which all delete outputs."""

from __future__ import annotations

from core.uow import UnitOfWork
from vault import content
from vault.models import DerivedOutput


def outputs_delete(uow: UnitOfWork, outputs, *, cause: str) -> int:
    """Delete outputs inside the account's unit of work: rows now, one event each, blobs after commit."""
    outputs = list(outputs.select_related("key"))
    if not outputs:
        return 0
    names = []
    for output in outputs:
        names += content.names_for(
            user_id=output.owner_id, key_id=output.key.key_id, uid=output.uid, variants=["output"]
        )
    DerivedOutput.objects.filter(pk__in=[o.pk for o in outputs]).delete()
    uow.record_many([
        uow.event(action="output.deleted", object_type="output", object_id=o.pk, purpose=o.purpose,
                  details={"cause": cause, "kind": o.kind})
        for o in outputs
    ])
    uow.after_commit(lambda: content.delete_names(names))
    return len(outputs)


def outputs_delete_for_items(uow: UnitOfWork, *, item_ids: list[int], cause: str) -> int:
    return outputs_delete(
        uow, DerivedOutput.objects.filter(owner_id=uow.user_id, sources__in=item_ids).distinct(), cause=cause
    )
