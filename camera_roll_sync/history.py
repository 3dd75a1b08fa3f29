"""The phone witnesses its holder's access history: the service's log of every event about them.

At each pass the client fetches the newest checkpoint of the holder's own log and the newest
commitment of it into the global audit trail, and checks them (camera_roll_sync.tlog) against the
checkpoint it verified last, kept in its state: the signature under the key it first saw, that the
new log extends the old one (computed from the tiles, no proof endpoint trusted), and that the head
is included in a signed global checkpoint. A log that shrank, forked or does not check out stops
the uploads (HistoryNotVerified: exit code 7) until the service shows one that does.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from camera_roll_sync import tlog
from camera_roll_sync.api import Api, ApiError
from camera_roll_sync.state import State


class HistoryNotVerified(Exception):
    """The access history shrank, forked or did not check out: nothing more is uploaded."""


@dataclass
class HistoryStatus:
    verified: bool
    entries: int | None = None
    since: str | None = None  # when this phone first verified it
    checked: str | None = None  # when it last did
    problem: str | None = None  # why it is not verified (a refusal, or "not yet")

    def line(self) -> str:
        if self.verified:
            return (f"Your access history: {self.entries} entries, verified (since {self.since}; last checked "
                    f"{self.checked})")
        return f"Your access history: {self.problem}"


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def recorded(state: State) -> HistoryStatus:
    """What this phone knows without asking the service."""
    problem = state.meta("history_problem")
    if problem:
        return HistoryStatus(verified=False, problem=f"NOT verified: {problem}")
    note = state.meta("history_note")
    if note is None:
        return HistoryStatus(verified=False, problem="not verified yet")
    checkpoint = tlog.open_checkpoint(note, state.meta("history_key"))
    return HistoryStatus(verified=True, entries=checkpoint.size, since=state.meta("history_since"),
                         checked=state.meta("history_checked"))


def _size(note: str, key: str | None) -> str | None:
    try:
        return str(tlog.open_checkpoint(note, key).size) if key else None
    except tlog.Invalid:
        return None  # not under the key kept: the full check below says why


def witness(api: Api, state: State, *, now: Callable[[], str] = _now) -> HistoryStatus:
    """Fetches and checks the newest holder checkpoint and commitment. Raises HistoryNotVerified when the
    history does not check out, ApiError(malformed) when an answer is not the documented shape; anything
    else (no answer, nothing committed yet) leaves it unverified for now and uploads go on."""
    pinned = state.meta("history_key")
    known_note = state.meta("history_note")
    try:
        note = api.holder_checkpoint()
        if note is not None and note == known_note and state.meta("history_committed") == _size(note, pinned) \
                and not state.meta("history_problem"):
            # The same log as verified last time, wholly committed then: nothing new to check (and no
            # inclusion proof for the server to compute at every pass).
            checked = now()
            state.set_meta("history_checked", checked)
            return HistoryStatus(verified=True, entries=int(_size(note, pinned)), since=state.meta("history_since"),
                                 checked=checked)
        commitment = api.holder_commitment() if note is not None else None
    except ApiError as exc:
        if exc.malformed or exc.status == 401:
            raise
        return HistoryStatus(verified=False, problem=f"not checked this time ({exc.message})")
    if commitment is None or note is None:
        return HistoryStatus(verified=False, problem="not verified yet (nothing of it is in the audit trail yet)")
    try:
        known = tlog.open_checkpoint(known_note, pinned) if known_note and pinned else None
        verified = tlog.check_holder_log(latest_note=note, commitment=commitment, fetch_tile=api.holder_tile,
                                         pinned_key=pinned, known=known,
                                         global_size=int(state.meta("history_global_size") or 0))
    except ApiError as exc:
        if exc.malformed or exc.status == 401:
            raise
        return HistoryStatus(verified=False, problem=f"not checked this time ({exc.message})")
    except tlog.Invalid as exc:
        what = "rolled back or forked" if isinstance(exc, tlog.Rollback) else "did not check out"
        message = f"the service's log of your access history {what}: {exc}"
        state.set_meta("history_problem", message)
        raise HistoryNotVerified(f"Your access history {what} ({exc}): uploading stopped. The service must show a "
                                 "history that extends the one this phone verified before anything more is sent."
                                 ) from exc
    checked = now()
    state.set_meta("history_key", verified.key)
    state.set_meta("history_note", verified.note)
    state.set_meta("history_global_size", str(verified.global_size))
    state.set_meta("history_committed", str(verified.committed))
    state.set_meta("history_checked", checked)
    if state.meta("history_since") is None:
        state.set_meta("history_since", checked)
    state.delete_meta("history_problem")
    return HistoryStatus(verified=True, entries=verified.size, since=state.meta("history_since"), checked=checked)
