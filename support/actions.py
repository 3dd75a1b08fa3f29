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
action("support.note_added", category="support",
       holder=lambda line: f"{line.who} added a note to the case about you",
       auditor=lambda event: f"{event.who} added a note to the case about {event.subject}{event.case}")
action("support.notice_dismissed", category="support",
       holder=lambda line: f"{line.who} put away the notice of what support did",
       auditor=lambda event: f"{event.who} dismissed a notice of what support did{event.case}")
