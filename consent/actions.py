"""The actions consent records, with the words each reader reads (see core.actions)."""

from consent.purposes import CAMERA_ROLL, FACE_ANALYSIS, PURPOSE_LABELS, SUGGESTION_PROMPTS
from core.actions import action, category, purpose

category("consent", auditor="Consent", holder="Consent choices", order=10)

for _key in (SUGGESTION_PROMPTS, CAMERA_ROLL, FACE_ANALYSIS):
    purpose(_key, words=PURPOSE_LABELS[_key])


def _for_whom(event) -> str:
    return "" if event.self_acting else f" for {event.subject}"


# One per ledger event (consent.models.ConsentEntry.Event): consent.services records f"consent.{event}".
action("consent.given", category="consent",
       holder=lambda line: f"{line.who} turned on {line.label}{line.how}",
       auditor=lambda event: f"{event.who} turned on {event.purpose}{_for_whom(event)}")
action("consent.withdrawn", category="consent",
       holder=lambda line: f"{line.who} turned off {line.label}{line.how}",
       auditor=lambda event: f"{event.who} turned off {event.purpose}{_for_whom(event)}")
action("consent.lapsed", category="consent",
       holder=lambda line: (f"{line.label} was paused because its notice changed; turn it on again to agree to "
                            "the new text"),
       auditor=lambda event: f"{event.purpose} lapsed for {event.subject} after a material notice change")
action("consent.revoked_by_support", category="consent",
       holder=lambda line: line.with_ticket(f"{line.who} revoked {line.label}"),
       auditor=lambda event: f"{event.who} revoked {event.purpose} for {event.subject}{event.case}")
action("consent.state_unverified", category="consent")
