"""The action registry: every action the trail records is declared here once, by the app that does it.

An app lists its actions in its own `actions.py` (found and imported when Django starts, like
`admin.py`), each with its name, its category, and the sentence a holder reads on their access
history and the sentence an auditor reads on the trail page:

    from core.actions import action

    action("media.trashed", category="media",
           holder=lambda line: f"{line.who} moved {line.photos()} to the trash",
           auditor=lambda event: f"{event.who} moved item {event.object_id} to the trash")

The audit trail refuses to append an action that is not registered (`audit_event_invalid`), so an
action cannot be recorded before it is declared, and both history pages take their words and their
filter categories from here. A sentence is a function of the thing being described: `line` for the
holder (an access-history line: a run of alike events, see support.access_log.Entry) and `event` for
the auditor (one event, see audit.sentences.Told); it returns "" to leave the line out. An action
with no sentence for a reader is shown plainly ("The system: media.reindexed").

Categories are declared the same way (`category(...)`): one table, which both readers filter by,
each with its own label (a category with no holder label is not offered to holders; its actions
fall under "other" on their page). So are the words the sentences share across apps: a purpose's
words for the auditor and its use for the holder (`purpose(...)`, "advertising" / "for advertising"),
and terms such as the kinds of suggestion (`term("output_kind", "collage", "a collage")`).
Core imports no app: the apps register into it.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

Sentence = Callable[[object], str]


@dataclass(frozen=True)
class Category:
    key: str
    auditor: str  # the label on the auditor's filter
    holder: str | None = None  # the label on the holder's filter; None: not offered to holders
    holder_key: str | None = None  # the holder's filter word, when it differs from `key`
    order: int = 50  # where it stands in the filters' lists

    @property
    def holder_word(self) -> str:
        return self.holder_key or self.key


@dataclass(frozen=True)
class Action:
    name: str
    category: str
    holder: Sentence | None = None
    auditor: Sentence | None = None
    # How the holder's history folds runs of this action (support.access_log): per request or job
    # rather than per day, and whether alike events fold even when others come between them.
    per_request: bool = False
    repeats: bool = False


@dataclass(frozen=True)
class Purpose:
    key: str
    words: str  # what the auditor reads: "Camera Roll Sharing Suggestions", "making suggestions"
    use: str | None = None  # what the holder reads after "read your photos": "to make suggestions"


class ActionError(ValueError):
    pass


_ACTIONS: dict[str, Action] = {}
_CATEGORIES: dict[str, Category] = {}
_PURPOSES: dict[str, Purpose] = {}
_TERMS: dict[tuple[str, str], str] = {}


def purpose(key: str, *, words: str, use: str | None = None) -> Purpose:
    """Declares the words for a purpose events name."""
    declared = Purpose(key=key, words=words, use=use)
    if _PURPOSES.get(key, declared) != declared:
        raise ActionError(f"purpose {key!r} declared twice, differently")
    _PURPOSES[key] = declared
    return declared


def purpose_words(key: str) -> str:
    """The auditor's words for a purpose ("" for none; an undeclared one as it is, without underscores)."""
    declared = _PURPOSES.get(key)
    return declared.words if declared else key.replace("_", " ")


def purpose_use(key: str) -> str | None:
    """The holder's words for what a read was for ("to make suggestions"), or None when undeclared."""
    declared = _PURPOSES.get(key)
    return declared.use if declared else None


def term(kind: str, key: str, words: str) -> None:
    """Declares the words for a value events carry in their details (e.g. an output's kind)."""
    if _TERMS.get((kind, key), words) != words:
        raise ActionError(f"term {kind}:{key} declared twice, differently")
    _TERMS[(kind, key)] = words


def term_words(kind: str, key, default: str) -> str:
    return _TERMS.get((kind, key), default)


def category(key: str, *, auditor: str, holder: str | None = None, holder_key: str | None = None,
             order: int = 50) -> Category:
    """Declares a category both history pages filter by."""
    declared = Category(key=key, auditor=auditor, holder=holder, holder_key=holder_key, order=order)
    existing = _CATEGORIES.get(key)
    if existing is not None and existing != declared:
        raise ActionError(f"category {key!r} declared twice, differently")
    _CATEGORIES[key] = declared
    return declared


def action(name: str, *, category: str, holder: Sentence | None = None, auditor: Sentence | None = None,
           per_request: bool = False, repeats: bool = False) -> Action:
    """Declares an action. Its name is 'area.verb' in lower case; its category must be declared by
    some app (checked once every app's actions are in, see autodiscover)."""
    parts = name.split(".")
    if len(parts) < 2 or not all(p and p[0].isalpha() and p.replace("_", "").isalnum() and p.islower()
                                 for p in parts) or len(name) > 64:
        raise ActionError(f"an action is named 'area.verb' in lower case, got {name!r}")
    if name in _ACTIONS:
        raise ActionError(f"action {name!r} is declared twice")
    declared = Action(name=name, category=category, holder=holder, auditor=auditor, per_request=per_request,
                      repeats=repeats)
    _ACTIONS[name] = declared
    return declared


def is_registered(name: str) -> bool:
    return name in _ACTIONS


def get(name: str) -> Action | None:
    return _ACTIONS.get(name)


def actions() -> list[Action]:
    return list(_ACTIONS.values())


def categories() -> list[Category]:
    """Every category, in the order the filters list them."""
    return sorted(_CATEGORIES.values(), key=lambda c: c.order)


def category_of(name: str) -> str | None:
    declared = _ACTIONS.get(name)
    return declared.category if declared else None


def names_in(category_key: str) -> list[str]:
    """The actions of a category, sorted (the filter a category stands for)."""
    return sorted(a.name for a in _ACTIONS.values() if a.category == category_key)


@contextmanager
def temporary() -> Iterator[None]:
    """For tests: whatever is declared inside the block is forgotten when it ends."""
    saved = [(table, dict(table)) for table in (_ACTIONS, _CATEGORIES, _PURPOSES, _TERMS)]
    try:
        yield
    finally:
        for table, before in saved:
            table.clear()
            table.update(before)


def autodiscover() -> None:
    """Imports every installed app's `actions` module (called from core's AppConfig.ready)."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("actions")
    undeclared = sorted(f"{a.name} ({a.category})" for a in _ACTIONS.values() if a.category not in _CATEGORIES)
    if undeclared:
        raise ActionError(f"actions in a category no app declares: {', '.join(undeclared)}")


# What core itself records.
category("system", auditor="System", order=90)
action("service.storage_full", category="system")
