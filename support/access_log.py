"""The holder's access history: every audit event about them, in words a person can read.

Events come from `audit.selectors.audit_events_for_subject` (newest first). Runs
of the same thing done in one go (one request or job, or the same action by the
same actor on the same day) become one line with a count: "The suggestions
engine read 12 of your photos to make a collage, 3 May 14:02".
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import CharField, Count, Q
from django.db.models.functions import Cast, Substr
from django.utils import timezone
from django.utils.dateformat import format as date_format

from accounts.models import ApiToken
from audit.selectors import audit_events_for_subject, audit_untrusted_seqs
from consent.purposes import PURPOSE_LABELS
from core import actions
from support.models import SupportCase


def categories() -> dict[str, tuple[str, list[str]]]:
    """The categories a holder can pick, from the action registry (core.actions): their filter word,
    label and actions. Actions of a category not offered to holders come under "other"."""
    return {c.holder_word: (c.holder, actions.names_in(c.key)) for c in actions.categories() if c.holder}

ACTOR_FILTERS = {
    "you": "You",
    "service": "The suggestions engine and other services",
    "support": "Support agents",
    "auditor": "Auditors",
    "system": "The system",
}


def _per_request(action: str) -> bool:
    """Whether an action's events are grouped per request or job (as declared in core.actions);
    everything else is grouped per day (for example, uploads)."""
    declared = actions.get(action)
    return bool(declared and declared.per_request)


def _repeats(action: str) -> bool:
    """Whether alike events of an action fold into one line a day even when others come between them
    (declared in core.actions: face scans interleave with the reads they come from). Anything whose
    order matters (consent on, off, on again; trash, restore) folds only when consecutive."""
    declared = actions.get(action)
    return bool(declared and declared.repeats)



@dataclass
class Entry:
    """One line of the access history: one event or a run of alike events."""

    action: str
    actor_kind: str
    actor_id: str
    purpose: str
    outcome: str
    request_id: str
    first_at: datetime
    last_at: datetime
    seqs: list[int] = field(default_factory=list)
    details: list[dict] = field(default_factory=list)
    object_ids: list[str] = field(default_factory=list)
    summary: str = ""
    actor_name: str = ""
    made: str | None = None  # for reads by the suggestions engine: what they went into
    used: list[tuple[str, int]] = field(default_factory=list)  # (kind, photos used) of each output made
    browsed: dict[str, set] | None = None  # the holder's own looking, folded per day: photos and suggestions
    passes: int = 1  # suggestion passes folded into this line (reads that made nothing)
    ticket: str | None = None  # the support case's ticket, for what support did under one
    device: str | None = None  # "the phone app on <device>", for what a phone did with its own token

    @property
    def count(self) -> int:
        return len(self.seqs)

    # What the holder's sentences (core.actions, `holder=`) are made from.
    @property
    def who(self) -> str:
        """Who did it, as the holder reads it: "You", "Support agent sam", "The suggestions engine"."""
        return self.actor_name

    @property
    def label(self) -> str:
        """The purpose's name as the holder's settings show it."""
        return _label(self.purpose)

    @property
    def denied(self) -> bool:
        return self.outcome == "denied"

    @property
    def method(self) -> str:
        return _method(self)

    @property
    def how(self) -> str:
        """" on the web" / " from the phone app" / ""."""
        return _how(self)

    @property
    def cause(self) -> str:
        return next((d.get("cause") for d in self.details if d.get("cause")), "")

    @property
    def kind(self) -> str | None:
        """The kind of suggestion the line's events name (collage, recap, ...)."""
        return _kind(self)

    def use(self, default: str | None = None) -> str:
        """What a read was for, in the holder's words ("to make suggestions"); else `default`, or
        "for <purpose>"."""
        declared = actions.purpose_use(self.purpose)
        if declared is not None:
            return declared
        return default if default is not None else "for " + self.label

    def kind_words(self, kind=None) -> str:
        return actions.term_words("output_kind", kind if kind is not None else self.kind, "a suggestion")

    def photos(self, count: int | None = None) -> str:
        return _photos(self.count if count is None else count)

    def of_your_photos(self, count: int | None = None) -> str:
        return _of_your_photos(self.count if count is None else count)

    @staticmethod
    def plural(count: int, one: str, many: str | None = None) -> str:
        return _plural(count, one, many)

    def sum(self, key: str) -> int:
        return _sum(self, key)

    def with_ticket(self, text: str) -> str:
        return _with_ticket(text, self.ticket)

    def used_words(self) -> str:
        return _used_words(self.used)

    @property
    def category(self) -> str:
        return category_of(self.action)

    @property
    def text(self) -> str:
        return f"{self.summary}, {when(self.last_at)}"


def category_of(action: str) -> str:
    declared = actions.get(action)
    kind = declared and next((c for c in actions.categories() if c.key == declared.category), None)
    return kind.holder_word if kind and kind.holder else "other"


def when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "j M H:i")


def _event_time(event) -> datetime:
    return event.time


def _group_key(event, *, per_request: bool, tz) -> tuple:
    """What a line's events share. `per_request`: the action's _per_request; `tz`: the service's time
    zone (both read once a page, not once an event)."""
    # A holder browsing their own photos reads one thumbnail per request: one line per day, not per picture.
    browsing = event.purpose == "owner_access" and not (event.request_id or "").startswith("export-")
    # Face scans are not linked to an output: one line a day, however many passes ran.
    per_request = per_request and not browsing and event.purpose != "face_grouping"
    scope = event.request_id if per_request and event.request_id else timezone.localdate(
        _event_time(event), tz).isoformat()
    details = event.details or {}
    return (event.action, event.actor_kind, str(event.actor_id), event.purpose, event.outcome, scope,
            details.get("case_id"), details.get("device"), details.get("method"), details.get("cause"))


def _filtered(*, user_id: int, since: date | None, until: date | None, category: str | None,
              actor: str | None):
    return events_filtered(audit_events_for_subject(subject_id=user_id), since=since, until=until,
                           category=category, actor=actor)


def events_filtered(events, *, since: date | None = None, until: date | None = None, category: str | None = None,
                    actor: str | None = None):
    """The holder's filters over their events (support.filters.AccessLogFilterSet reads them from a query):
    whole days in the service's time zone, `until` included; a category of categories() or "other"; an
    actor of ACTOR_FILTERS."""
    tz = timezone.get_current_timezone()
    if since:
        events = events.filter(time__gte=datetime.combine(since, datetime.min.time(), tzinfo=tz))
    if until:
        events = events.filter(time__lt=datetime.combine(until + timedelta(days=1), datetime.min.time(), tzinfo=tz))
    offered = categories()
    if category in offered:
        query = Q(action__in=offered[category][1])
        if category == "support":  # what support did, whatever it touched (e.g. a revocation in the ledger)
            query |= Q(actor_kind="support")
        events = events.filter(query)
    elif category == "other":
        events = events.exclude(action__in=[name for _, names in offered.values() for name in names])
    if actor in ACTOR_FILTERS:
        events = events.filter(actor_kind="holder" if actor == "you" else actor)
    return events


# How many raw events one page of the history reads at most: two busy days of an active holder
# (about 200 events a day), few enough that a page stays fast whatever the history's size.
WINDOW_EVENTS = 500


@dataclass
class History:
    """One page of the history: its lines, newest first, and where the next older page starts."""

    entries: list[Entry]
    older: int | None  # pass as `before` for the next older page; None at the start of the history
    newest_at: datetime | None
    oldest_at: datetime | None


def access_log_page(*, user_id: int, since: date | None = None, until: date | None = None,
                    category: str | None = None, actor: str | None = None, before: int | None = None,
                    window: int = WINDOW_EVENTS) -> History:
    """The newest `window` events (older than the event `before`, when given) as readable lines,
    newest first: one query for the events (whole rows, so checking each one's MAC reads nothing
    more), and at most three for the names the lines give. A page ends on a day's boundary when it can,
    so a day's repeats fold into one line."""
    events = _filtered(user_id=user_id, since=since, until=until, category=category, actor=actor)
    if before is not None:
        events = events.filter(seq__lt=before)
    # Whole rows: a deferred column would be loaded one query per field per event by the MAC check.
    rows = list(events[:window + 1])
    older = None
    if len(rows) > window:
        rows = rows[:window]
        tz = timezone.get_current_timezone()
        last_day = timezone.localdate(rows[-1].time, tz)
        cut = len(rows)
        while cut > 0 and timezone.localdate(rows[cut - 1].time, tz) == last_day:
            cut -= 1
        if cut:  # the oldest day may go on in the next page: it is shown whole there
            rows = rows[:cut]
        older = rows[-1].seq
    entries = _grouped(rows)
    entries = _fold_browsing(entries)
    _describe(entries, user_id=user_id)
    return History(entries=[entry for entry in entries if entry.summary], older=older,
                   newest_at=rows[0].time if rows else None, oldest_at=rows[-1].time if rows else None)


def access_log_entries(*, user_id: int, since: date | None = None, until: date | None = None,
                       category: str | None = None, actor: str | None = None,
                       before: int | None = None) -> list[Entry]:
    """The newest page of the holder's history as readable lines, newest first."""
    return access_log_page(user_id=user_id, since=since, until=until, category=category, actor=actor,
                           before=before).entries


def _grouped(events) -> list[Entry]:
    entries: list[Entry] = []
    last_key = None
    repeats: dict[tuple, Entry] = {}
    tz = timezone.get_current_timezone()
    folding: dict[str, tuple[bool, bool]] = {}  # each action's (_per_request, _repeats), read once a page
    for event in events:
        flags = folding.get(event.action)
        if flags is None:
            flags = folding[event.action] = (_per_request(event.action), _repeats(event.action))
        key = _group_key(event, per_request=flags[0], tz=tz)
        current = None
        if entries and key == last_key:
            current = entries[-1]
        elif flags[1]:
            current = repeats.get(key)
        if current is None:
            current = Entry(
                action=event.action, actor_kind=event.actor_kind, actor_id=str(event.actor_id or ""),
                purpose=event.purpose or "", outcome=event.outcome, request_id=event.request_id or "",
                first_at=_event_time(event), last_at=_event_time(event),
            )
            entries.append(current)
            if flags[1]:
                repeats[key] = current
        last_key = key
        current.first_at = min(current.first_at, _event_time(event))
        current.seqs.append(event.seq)
        current.details.append(event.details or {})
        current.object_ids.append(str(event.object_id or ""))
    return entries


def _is_browsing(entry: Entry) -> bool:
    """The holder looking at their own photos and suggestions on the pages (not an export's reads)."""
    if entry.actor_kind != "holder" or entry.outcome != "allowed":
        return False
    if entry.action == "media.read":
        return entry.purpose == "owner_access" and not entry.request_id.startswith("export-")
    return entry.action == "output.read"


def _fold_browsing(entries: list[Entry]) -> list[Entry]:
    """One line per day for the holder's own browsing, however often they came back that day."""
    folded: list[Entry] = []
    by_day: dict[date, Entry] = {}
    for entry in entries:
        if not _is_browsing(entry):
            folded.append(entry)
            continue
        day = timezone.localdate(entry.last_at)
        kind = "photos" if entry.action == "media.read" else "suggestions"
        line = by_day.get(day)
        if line is None:
            line = by_day[day] = entry
            line.browsed = {"photos": set(), "suggestions": set()}
            folded.append(line)
        else:
            line.seqs += entry.seqs
            line.details += entry.details
            line.object_ids += entry.object_ids
            line.first_at = min(line.first_at, entry.first_at)
        line.browsed[kind].update(i for i in entry.object_ids if i)
    return folded


def _hourly_counts(*, user_id: int, first: date, last: date, category: str | None,
                   actor: str | None) -> Counter:
    """Events per local hour from `first` to `last` inclusive: one aggregate query (counts only).

    Grouped by the UTC hour as text (the first 13 characters, "2026-12-06 14", of the time as the
    database writes it, the same on SQLite and PostgreSQL), not by a time-zone function: SQLite would
    call back into Python once per event. Local hours are then whole-hour shifts of UTC ones."""
    events = _filtered(user_id=user_id, since=first, until=last, category=category, actor=actor)
    if untrusted := audit_untrusted_seqs():  # a row the service did not MAC is not counted
        events = events.exclude(seq__in=untrusted)
    rows = (events.annotate(hour=Substr(Cast("time", CharField()), 1, 13))
            .values("hour").annotate(n=Count("seq")).order_by())
    counts: Counter = Counter()
    for row in rows:
        utc_hour = datetime.strptime(row["hour"], "%Y-%m-%d %H").replace(tzinfo=UTC)
        counts[timezone.localtime(utc_hour).replace(minute=0, tzinfo=None)] += row["n"]
    return counts


def _window(since: date | None, until: date | None, today: date | None, days: int) -> tuple[date, date]:
    last = until or today or timezone.localdate()
    first = since or (last - timedelta(days=days - 1))
    if (last - first).days > 366:
        first = last - timedelta(days=366)
    return first, last


def events_per_day(*, user_id: int, since: date | None = None, until: date | None = None,
                   category: str | None = None, actor: str | None = None, days: int = 30,
                   today: date | None = None) -> list[tuple[date, int]]:
    """Raw event counts per local day, for the chart: the filter window, or the last `days` days."""
    return activity(user_id=user_id, since=since, until=until, category=category, actor=actor, days=days,
                    today=today).days


@dataclass
class Activity:
    """The chart's counts: per day over the window, and per hour of the window's one active day."""

    days: list[tuple[date, int]]
    busy_day: date | None  # when every event of the window is on one day: that day
    hours: list[tuple[datetime, int]]  # that day's 24 hours (empty when busy_day is None)

    @property
    def total(self) -> int:
        return sum(count for _, count in self.days)


def activity(*, user_id: int, since: date | None = None, until: date | None = None, category: str | None = None,
             actor: str | None = None, days: int = 30, today: date | None = None) -> Activity:
    """Counts for the chart from one aggregate query. A window whose events all fall on one day is
    charted by the hour of that day: thirty day columns with one bar would show nothing of it."""
    first, last = _window(since, until, today, days)
    hourly = _hourly_counts(user_id=user_id, first=first, last=last, category=category, actor=actor)
    per_day: Counter = Counter()
    for hour, count in hourly.items():
        per_day[hour.date()] += count
    span = (last - first).days + 1
    day_counts = [(first + timedelta(days=i), per_day.get(first + timedelta(days=i), 0)) for i in range(span)]
    active = [day for day, count in day_counts if count]
    if len(active) != 1:
        return Activity(days=day_counts, busy_day=None, hours=[])
    start = datetime.combine(active[0], datetime.min.time())
    hours = [(start + timedelta(hours=h), hourly.get(start + timedelta(hours=h), 0)) for h in range(24)]
    return Activity(days=day_counts, busy_day=active[0], hours=hours)


# --- words -----------------------------------------------------------------


def _support_names(entries: list[Entry], known: dict[str, str]) -> dict[str, str]:
    """Support agents' usernames by id: those of the cases' agents (`known`), and a query for any other."""
    ids = {e.actor_id for e in entries if e.actor_kind == "support" and e.actor_id.isdigit()} - set(known)
    if not ids:
        return known
    users = get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")
    return {**known, **{str(pk): username for pk, username in users}}


def _device_names(entries: list[Entry], user_id: int) -> dict[int, str]:
    """The holder's devices by token id; a device signed out since then has no name any more."""
    ids = {d.get("device") for e in entries for d in e.details[:1] if isinstance(d.get("device"), int)}
    if not ids:
        return {}
    return dict(ApiToken.objects.filter(pk__in=ids, user_id=user_id).values_list("pk", "name"))


def _cases(entries: list[Entry], user_id: int) -> tuple[dict[int, str], dict[str, str]]:
    """The tickets of the cases the lines name, and their agents' usernames by id: one query."""
    case_ids = {d.get("case_id") for e in entries for d in e.details[:1] if isinstance(d.get("case_id"), int)}
    if not case_ids:
        return {}, {}
    rows = list(SupportCase.objects.filter(pk__in=case_ids, subject_id=user_id).values_list(
        "pk", "ticket", "agent_id", "agent__username"))
    return {pk: ticket for pk, ticket, _, _ in rows}, {str(agent): name for _, _, agent, name in rows}


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one}" if count == 1 else f"{count} {many or one + 's'}"


def _photos(count: int) -> str:
    return "a photo" if count == 1 else f"{count} photos"


def _of_your_photos(count: int) -> str:
    return "one of your photos" if count == 1 else f"{count} of your photos"


def _label(purpose: str) -> str:
    return PURPOSE_LABELS.get(purpose, purpose.replace("_", " "))


def _sum(entry: Entry, key: str) -> int:
    return sum(d.get(key, 0) for d in entry.details if isinstance(d.get(key, 0), int))


def _kind(entry: Entry) -> str | None:
    return next((d.get("kind") for d in entry.details if d.get("kind")), None)


def _link_reads_to_outputs(entries: list[Entry]) -> None:
    """Say what a run of reads went into: the output stored in the same job (same request id),
    or else the next output stored whose sources are among the photos read."""
    by_request: dict[str, str] = {}
    used: dict[str, list[tuple[str, int]]] = {}
    for entry in entries:
        if entry.action == "output.stored" and entry.request_id and _kind(entry):
            by_request.setdefault(entry.request_id, _kind(entry))
            used.setdefault(entry.request_id, []).extend(
                (d.get("kind"), len(d.get("sources") or [])) for d in reversed(entry.details) if d.get("kind"))
    for index, entry in enumerate(entries):
        if entry.action != "media.read" or entry.purpose not in ("sharing_suggestions", "face_grouping"):
            continue
        entry.made = by_request.get(entry.request_id) if entry.request_id else None
        if entry.made:
            entry.used = used.get(entry.request_id, [])
            continue
        read = set(entry.object_ids)
        for newer in reversed(entries[max(0, index - 3):index]):  # the outputs stored just after the reads
            sources = {str(s) for d in newer.details for s in (d.get("sources") or [])}
            if newer.action == "output.stored" and sources & read:
                entry.made = _kind(newer)
                entry.used = [(d.get("kind"), len(d.get("sources") or [])) for d in newer.details if d.get("kind")]
                break


def _fold_passes(entries: list[Entry]) -> list[Entry]:
    """Suggestion passes that read photos and made nothing from them read alike: one line a day,
    with the number of passes, rather than the same words once per pass."""
    folded: list[Entry] = []
    by_day: dict[tuple, Entry] = {}
    for entry in entries:
        if entry.action != "media.read" or entry.purpose != "sharing_suggestions" or entry.made or entry.used:
            folded.append(entry)
            continue
        key = (entry.actor_kind, entry.actor_id, entry.outcome, timezone.localdate(entry.last_at))
        line = by_day.get(key)
        if line is None:
            by_day[key] = entry
            entry.passes = 1
            folded.append(entry)
            continue
        line.passes += 1
        line.seqs += entry.seqs
        line.details += entry.details
        line.object_ids += entry.object_ids
        line.first_at = min(line.first_at, entry.first_at)
    return folded


def _describe(entries: list[Entry], *, user_id: int) -> None:
    tickets, agents = _cases(entries, user_id)
    names = _support_names(entries, agents)
    devices = _device_names(entries, user_id)
    _link_reads_to_outputs(entries)
    entries[:] = _fold_passes(entries)
    for entry in entries:
        case_id = entry.details[0].get("case_id") if entry.details else None
        ticket = tickets.get(case_id) or (entry.details[0].get("ticket") if entry.details else None)
        entry.actor_name = _actor_name(entry, names)
        entry.summary = _sentence(entry, ticket=ticket, device=_device(entry, devices))


def _actor_name(entry: Entry, names: dict[str, str]) -> str:
    if entry.actor_kind == "holder":
        return "You"
    if entry.actor_kind == "support":
        return f"Support agent {names.get(entry.actor_id, 'unknown')}"
    if entry.actor_kind == "auditor":
        return "An auditor"
    if entry.actor_kind == "service":
        # The gateway reads for a purpose; the suggestions engine is the one that asked.
        if entry.actor_id.startswith("suggest") or entry.purpose in ("sharing_suggestions", "face_grouping"):
            return "The suggestions engine"
        return "A service"
    return "The system"


def _method(entry: Entry) -> str:
    return next((d.get("method") for d in entry.details if d.get("method")), "")


def _how(entry: Entry) -> str:
    return {"web": " on the web", "api": " from the phone app"}.get(_method(entry), "")


def _browsed_sentence(browsed: dict[str, set]) -> str:
    parts = []
    if browsed["photos"]:
        parts.append(_of_your_photos(len(browsed["photos"])))
    if browsed["suggestions"]:
        parts.append(_plural(len(browsed["suggestions"]), "suggestion"))
    what = " and ".join(parts) or "your photos"
    return f"You looked at {what}"


def _used_words(used: list[tuple[str, int]]) -> str:
    """'used 3 in a collage' or 'made 2 suggestions from them: a collage of 3 and a recap animation of 5'."""
    if len(used) == 1:
        kind, count = used[0]
        return f"used {count} in {actions.term_words('output_kind', kind, 'a suggestion')}"
    each = [f"{actions.term_words('output_kind', kind, 'a suggestion')} of {count}" for kind, count in used]
    return f"made {len(used)} suggestions from them: {', '.join(each[:-1])} and {each[-1]}"


def _device(entry: Entry, devices: dict[int, str]) -> str | None:
    """"the phone app on <device>" for what a phone did with its own token (the trail holds its id only)."""
    device_id = entry.details[0].get("device") if entry.details else None
    if not isinstance(device_id, int):
        return None
    return f"the phone app on {devices.get(device_id, 'a device since signed out')}"


def _with_ticket(text: str, ticket: str | None) -> str:
    return f"{text}, ticket {ticket}" if ticket else text


def _sentence(entry: Entry, *, ticket, device: str | None = None) -> str:
    """The line's words: the holder's sentence its app declared for the action (core.actions), or
    the action said plainly when none was declared (or it is no longer)."""
    entry.ticket, entry.device = ticket, device
    if entry.browsed is not None:
        return _browsed_sentence(entry.browsed)
    declared = actions.get(entry.action)
    if declared and declared.holder:
        return declared.holder(entry)
    outcome = "" if entry.outcome == "allowed" else f" ({entry.outcome})"
    times = "" if entry.count == 1 else f" ×{entry.count}"
    return f"{entry.who}: {entry.action}{times}{outcome}"
