"""What an account holds beyond the vault's own rows, counted by the app that keeps it (the people and
face records of face grouping), so a confirmation can say what an erase or a revocation destroys.

Apps register a counter in AppConfig.ready(); the vault never imports them."""

from collections.abc import Callable

Counter = Callable[[int], dict[str, int]]
_COUNTERS: dict[str, Counter] = {}


def held_counter_register(*, name: str, count: Counter) -> None:
    """`count(user_id)` -> {"people": 4, "face_records": 12}: counts only, never content."""
    _COUNTERS[name] = count


def held_counts(*, user_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for count in _COUNTERS.values():
        counts.update(count(user_id))
    return counts
