"""The actions support and the data rights record (see core.actions for how to declare one)."""

from core.actions import action, category

category("support", auditor="Support", holder="Support", order=40)
category("exports", auditor="Data exports", holder="Your data exports", order=50)

action("support.case_opened", category="support")
action("support.case_closed", category="support")
action("support.case_expired", category="support")
action("support.subject_viewed", category="support", repeats=True)
action("support.revoke", category="support")
action("support.erase", category="support")
action("export.requested", category="exports")
action("export.ready", category="exports")
action("export.failed", category="exports")
action("export.downloaded", category="exports", repeats=True)
action("export.deleted", category="exports")
