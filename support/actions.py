"""The actions support and the data rights record, with the words each reader reads (see core.actions)."""

from core.actions import action, category

category("support", auditor="Support", holder="Support", order=40)
category("exports", auditor="Data exports", holder="Your data exports", order=50)


def _times(line) -> str:
    return "" if line.count == 1 else f" ({line.plural(line.count, 'time')})"


def _revoke_holder(line) -> str:
    if any(d.get("changed") for d in line.details):
        return ""  # the consent.revoked_by_support line already says it
    return line.with_ticket(f"{line.who} asked to revoke {line.label}, which was already off")


def _revoke_auditor(event) -> str:
    changed = event.details.get("changed")
    return f"{event.who} revoked {event.purpose} for {event.subject}{event.case}" + (
        "" if changed or changed is None else ", which was already off")


def _erase_auditor(event) -> str:
    items = event.count("items")
    return f"{event.who} erased the photos in the cloud{event.about}{event.case}" + (
        f": {items} photos" if items is not None else "")


action("support.case_opened", category="support",
       holder=lambda line: line.with_ticket(f"{line.who} opened a support case about your account"),
       auditor=lambda event: f"{event.who} opened a case about {event.subject}{event.case}")
action("support.case_closed", category="support",
       holder=lambda line: line.with_ticket(f"{line.who} closed the support case"),
       auditor=lambda event: f"{event.who} closed the case about {event.subject}{event.case}")
action("support.case_expired", category="support",
       holder=lambda line: line.with_ticket("A support case about your account ran out of time and closed"),
       auditor=lambda event: f"The case about {event.subject} expired{event.case}")
action("support.subject_viewed", category="support", repeats=True,
       holder=lambda line: line.with_ticket(f"{line.who} looked at your consent settings and how much is stored, "
                                            f"never the photos themselves{_times(line)}"),
       auditor=lambda event: f"{event.who} viewed the consent state and counts{event.about}{event.case}")
action("support.revoke", category="support", holder=_revoke_holder, auditor=_revoke_auditor)
action("support.erase", category="support",
       holder=lambda line: line.with_ticket(f"{line.who} erased your cloud photos and everything made from them "
                                            f"({line.photos(line.sum('items'))})"),
       auditor=_erase_auditor)
action("export.requested", category="exports",
       holder=lambda line: "You asked for a copy of everything we hold about you")
action("export.ready", category="exports", holder=lambda line: "Your data export was ready to download")
action("export.failed", category="exports", holder=lambda line: "Your data export could not be made")
action("export.downloaded", category="exports", repeats=True,
       holder=lambda line: f"{line.who} downloaded your data export{_times(line)}")
action("export.deleted", category="exports", holder=lambda line: "Your data export was deleted")
action("support.note_added", category="support",
       holder=lambda line: f"{line.who} added a note to the case about you",
       auditor=lambda event: f"{event.who} added a note to the case about {event.subject}{event.case}")
action("support.notice_dismissed", category="support",
       holder=lambda line: f"{line.who} put away the notice of what support did",
       auditor=lambda event: f"{event.who} dismissed a notice of what support did{event.case}")
