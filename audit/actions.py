"""The actions the audit trail itself records, with the words each reader reads (see core.actions)."""

from core.actions import action, category

category("audit", auditor="Audit", holder="Auditors", order=60)


def _exported(event) -> str:
    fmt = event.details.get("format")
    return f"{event.who} exported the audit trail" + (f" as {fmt}" if isinstance(fmt, str) else "")


action("audit.exported", category="audit",
       holder=lambda line: "An auditor exported the access log entries about you", auditor=_exported)
action("audit.entry_set_aside", category="audit")
action("audit.set_aside_acknowledged", category="audit")
# A holder log's head committed into the trail at a checkpoint (docs/holder-log.md). Its subject is
# null: the holder is named in its details, and it is in no holder log.
action("audit.holder_head", category="audit")
# The checkpointer rewound the unsigned tail to drop entries the service did not write (audit.rewind).
action("audit.tail_rewound", category="audit")
