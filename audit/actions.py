"""The actions the audit trail itself records (see core.actions for how to declare one)."""

from core.actions import action, category

category("audit", auditor="Audit", holder="Auditors", order=60)

action("audit.exported", category="audit")
action("audit.entry_set_aside", category="audit")
action("audit.set_aside_acknowledged", category="audit")
