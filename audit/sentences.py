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


@dataclass(frozen=True)
class Told:
    """What an auditor's sentence (core.actions, `auditor=`) is made from: the event's words, and
    the event's own fields (event.action, event.object_id, ...) through it."""

    event: object
    who: str  # "Holder alice", "Support agent sam", "The suggestions service", "The system"
    subject: str  # the name of the account the event is about, or ""
    about: str  # " of alice", or ""
    whose: str  # " their" when holders act on themselves, " alice's", or ""
    purpose: str  # the purpose in words (core.actions.purpose_words), or ""
    case: str  # " (case 7)" for what support did under a case, or ""
    self_acting: bool
    details: dict

    def __getattr__(self, name):
        return getattr(self.event, name)

    def count(self, key: str) -> int | None:
        """A count the details carry under `key`, or None."""
        value = self.details.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def sentence(event, names: dict[str, str]) -> str:
    """One readable sentence: who did what, about whom, for which purpose, and how it ended. The
    words are the ones the action's app declared (core.actions); an action declared without them,
    or no longer declared, is said plainly."""
    who = actor_words(event, names)
    subject = _subject(event, names)
    about = f" of {subject}" if subject else ""
    purpose = actions.purpose_words(event.purpose) if event.purpose else ""
    details = event.details if isinstance(event.details, dict) else {}
    case = f" (case {details['case_id']})" if isinstance(details.get("case_id"), int) else ""
    self_acting = event.actor_kind == "holder" and str(event.actor_id) == str(event.subject_id)
    whose = " their" if self_acting else about and f" {subject}'s"
    told = Told(event=event, who=who, subject=subject, about=about, whose=whose, purpose=purpose, case=case,
                self_acting=self_acting, details=details)
    declared = actions.get(event.action)
    text = declared.auditor(told) if declared and declared.auditor else _plainly(told)
    if event.outcome in OUTCOME_WORDS:
        text += f" — {OUTCOME_WORDS[event.outcome]}"
    return text


def _plainly(told: Told) -> str:
    words = told.action.replace("_", " ").replace(".", ": ", 1)
    target = f" {told.object_type} {told.object_id}".rstrip() if told.object_type else ""
    return f"{told.who} — {words}{target}{told.about}" + (f", for {told.purpose}" if told.purpose else "")
