"""The auditor's page: who an event's ids are, and a sentence per event.

Names of accounts are looked up for display only (auditors may know who acted and
about whom); the trail itself keeps ids. Nothing here shows content: the events
carry none (invariant 7), and the sentences are made from ids, codes and counts.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q

from core import actions

HUMAN_KINDS = ("holder", "auditor", "support")

PURPOSE_WORDS = {
    "suggestion_prompts": "Suggestion prompts",
    "camera_roll_cloud_processing": "Camera Roll Sharing Suggestions",
    "face_analysis": "Group photos by people",
    "advertising": "advertising",
    "model_training": "model training",
    "sharing_suggestions": "making suggestions",
    "face_grouping": "grouping by people",
    "owner_access": "the holder's own use",
}

OUTCOME_WORDS = {"denied": "refused", "error": "failed"}


def account_resolve(text: str) -> tuple[int, str] | None:
    """(id, username) of the account whose username, email or id is `text` (any case), or None.
    An id that is no account (any more) still filters: (id, "")."""
    text = (text or "").strip()
    if not text:
        return None
    users = get_user_model().objects
    query = Q(username__iexact=text) | (Q(email__iexact=text) if "@" in text else Q(pk__in=[]))
    if text.isdigit():
        query |= Q(pk=int(text))
    found = list(users.filter(query).values_list("pk", "username")[:2])
    if len(found) == 1:
        return found[0]
    if not found and text.isdigit():
        return (int(text), "")
    return None  # nothing, or an email two accounts share: say so rather than guess


def account_names(ids) -> dict[str, str]:
    """Usernames by id (as text) for the ids given."""
    numeric = {int(i) for i in ids if str(i).isdigit()}
    if not numeric:
        return {}
    users = get_user_model().objects.filter(pk__in=numeric).values_list("pk", "username")
    return {str(pk): username for pk, username in users}


def ids_to_name(events) -> set[str]:
    ids = set()
    for event in events:
        if event.subject_id is not None:
            ids.add(str(event.subject_id))
        if event.actor_kind in HUMAN_KINDS and event.actor_id:
            ids.add(str(event.actor_id))
    return ids


def actor_words(event, names: dict[str, str]) -> str:
    name = names.get(str(event.actor_id), f"#{event.actor_id}") if event.actor_id else ""
    if event.actor_kind == "holder":
        return f"Holder {name}".strip()
    if event.actor_kind == "support":
        return f"Support agent {name}".strip()
    if event.actor_kind == "auditor":
        return f"Auditor {name}".strip()
    if event.actor_kind == "service":
        return f"The {event.actor_id} service" if event.actor_id else "A service"
    return "The system"


def _subject(event, names: dict[str, str]) -> str:
    if event.subject_id is None:
        return ""
    return names.get(str(event.subject_id), f"account #{event.subject_id}")


def _count(details: dict, key: str) -> int | None:
    value = details.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Told:
    """What an auditor's sentence (core.actions, `auditor=`) is made from: the event's words, and
    the event's own fields (event.action, event.object_id, ...) through it."""

    event: object
    who: str  # "Holder alice", "Support agent sam", "The suggestions service", "The system"
    subject: str  # the name of the account the event is about, or ""
    about: str  # " of alice", or ""
    whose: str  # " their" when holders act on themselves, " alice's", or ""
    purpose: str  # the purpose in words, or ""
    case: str  # " (case 7)" for what support did under a case, or ""
    self_acting: bool
    details: dict

    def __getattr__(self, name):
        return getattr(self.event, name)


def sentence(event, names: dict[str, str]) -> str:  # noqa: C901 (a table of phrasings)
    """One readable sentence: who did what, about whom, for which purpose, and how it ended."""
    who = actor_words(event, names)
    subject = _subject(event, names)
    about = f" of {subject}" if subject else ""
    purpose = PURPOSE_WORDS.get(event.purpose, event.purpose.replace("_", " ")) if event.purpose else ""
    details = event.details if isinstance(event.details, dict) else {}
    case = f" (case {details['case_id']})" if isinstance(details.get("case_id"), int) else ""
    action = event.action
    self_acting = event.actor_kind == "holder" and str(event.actor_id) == str(event.subject_id)
    whose = " their" if self_acting else about and f" {subject}'s"
    declared = actions.get(action)

    if declared and declared.auditor:
        text = declared.auditor(Told(event=event, who=who, subject=subject, about=about, whose=whose,
                                     purpose=purpose, case=case, self_acting=self_acting, details=details))
    elif action == "consent.given":
        text = f"{who} turned on {purpose}" + ("" if self_acting else f" for {subject}")
    elif action == "consent.withdrawn":
        text = f"{who} turned off {purpose}" + ("" if self_acting else f" for {subject}")
    elif action == "consent.lapsed":
        text = f"{purpose} lapsed for {subject} after a material notice change"
    elif action == "consent.revoked_by_support":
        text = f"{who} revoked {purpose} for {subject}{case}"
    elif action == "support.case_opened":
        text = f"{who} opened a case about {subject}{case}"
    elif action == "support.case_closed":
        text = f"{who} closed the case about {subject}{case}"
    elif action == "support.case_expired":
        text = f"The case about {subject} expired{case}"
    elif action == "support.subject_viewed":
        text = f"{who} viewed the consent state and counts{about}{case}"
    elif action == "support.revoke":
        changed = details.get("changed")
        text = f"{who} revoked {purpose} for {subject}{case}" + ("" if changed or changed is None
                                                                 else ", which was already off")
    elif action == "support.erase":
        items = _count(details, "items")
        text = f"{who} erased the photos in the cloud{about}{case}" + (f": {items} photos" if items is not None else "")
    elif action == "media.read":
        target = f"item {event.object_id}" if event.object_id else "media"
        text = f"{who} read{whose} {target}" + (f" for {purpose}" if purpose else "")
    elif action == "media.uploaded":
        text = f"{who} uploaded item {event.object_id}" if event.object_id else f"{who} uploaded an item"
    elif action == "media.upload_refused":
        code = details.get("code") or details.get("error")
        text = f"An upload{about} was refused" + (f" ({code})" if isinstance(code, str) else "")
    elif action == "media.erased":
        items = _count(details, "items")
        text = f"{who} erased the photos in the cloud{about}" + (f": {items} photos" if items is not None else "")
    elif action == "media.listed":
        text = f"{who} listed{whose} media" + (f" for {purpose}" if purpose else "")
    elif action == "audit.exported":
        fmt = details.get("format")
        text = f"{who} exported the audit trail" + (f" as {fmt}" if isinstance(fmt, str) else "")
    elif action == "output.stored":
        text = f"{who} stored output {event.object_id}{about}" if event.object_id else f"{who} stored an output{about}"
    else:
        words = action.replace("_", " ").replace(".", ": ", 1)
        target = f" {event.object_type} {event.object_id}".rstrip() if event.object_type else ""
        text = f"{who} — {words}{target}{about}" + (f", for {purpose}" if purpose else "")
    if event.outcome in OUTCOME_WORDS:
        text += f" — {OUTCOME_WORDS[event.outcome]}"
    return text
