#!/usr/bin/env python3
"""A monitor for consentsvc's holder logs: each holder's log must hold exactly the global entries about them.

Needs only Python 3.11+ and the `cryptography` package: no Django, no database. It runs from a
copy of the repository (or of tools/ with audit/canonical.py, merkle.py, notes.py, integrate.py,
holder_proof.py and statefile.py beside it). The holder logs' contract is docs/holder-log.md; what
this proves is in docs/auditors.md.

    # an auditor (or anyone with an auditor token), every few minutes:
    python monitor.py run --log https://consent.example/api/v1/ --token "$AUDITOR_TOKEN" \\
        --log-key 'consentsvc.local/audit+1a2b3c4d+AU...' --state monitor-state.json

    # a holder, offline, with the file /me/access/ offers for download:
    python monitor.py --holder my-access-history.json [--log-key 'consentsvc.local/audit+...']

`run` replays the global trail from its tlog-tiles: it checks the newest signed checkpoint, reads
only the entry bundles after the size it saw last time (its state file), checks them against the
level-0 tiles, and rebuilds the signed root from the tree it kept (so the new tree extends the old
one). For every `audit.holder_head` entry it finds, naming holder S's log at size K with root R, it
checks that R is the RFC 9162 root of the first K global entries whose subject_id is S, in global
order: an entry left out of S's log, one added to it, changed or moved, gives another root. This
needs nothing from the holder logs themselves: the global trail holds both the entries and the heads.

`--holder FILE` checks a holder's download: the holder checkpoint's signature, that its entries
rebuild its root and are all about one holder, and that the committed head is included (RFC 9162)
in a signed global checkpoint. So the history in the file is the one committed to the trail that
monitors check.

Exit status: 0 all checked and consistent; 1 a mismatch (printed, and for `run` kept in the state
file so every later run says it again); 2 could not run (usage, network, files).
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field

# Entry bytes, hashes, Merkle trees and signed notes come from the service's own Django-free
# modules: one copy of each, checked by the service's tests.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from audit import canonical, holder_proof, merkle, statefile  # noqa: E402
from audit.holder_proof import HOLDER_HEAD, Head, is_int, open_note, read_entry, read_head  # noqa: E402
from audit.integrate import WIDTH, encode_index  # noqa: E402

STATE_FORMAT = "consentsvc-monitor/1"


Mismatch = holder_proof.Invalid  # the log did something the contract forbids


class Failed(Exception):
    """The monitor could not do its job this time (network, files, usage)."""


# -- tlog-tiles ------------------------------------------------------------------------------------


def tile_path(level, index: int, width: int) -> str:
    return f"tile/{level}/{encode_index(index)}" + ("" if width == WIDTH else f".p/{width}")


def split_bundle(data: bytes, width: int) -> list[bytes]:
    """An entry bundle's entries: each after its length as a big-endian uint16."""
    entries, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise Mismatch("an entry bundle ends inside a length")
        length = int.from_bytes(data[at : at + 2], "big")
        entries.append(data[at + 2 : at + 2 + length])
        if at + 2 + length > len(data):
            raise Mismatch("an entry bundle ends inside an entry")
        at += 2 + length
    if len(entries) != width:
        raise Mismatch(f"an entry bundle of width {width} holds {len(entries)} entries")
    return entries


class Http:
    """GET over HTTP(S) with an API token, paths relative to the API's base URL."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 60):
        if not base_url.startswith(("https://", "http://")):
            raise Failed(f"the log's URL must be http(s): {base_url!r}")
        self.base = base_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout

    def get(self, path: str) -> bytes:
        request = urllib.request.Request(self.base + path)  # noqa: S310 (http(s) only, checked above)
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.read()
        except urllib.error.HTTPError as exc:
            raise Failed(f"GET {path}: HTTP {exc.code}: {exc.read()[:300]!r}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise Failed(f"GET {self.base + path}: {exc}") from exc


class Tlog:
    """A C2SP tlog-tiles log under `prefix`, read through `get(path) -> bytes`."""

    def __init__(self, get, prefix: str = "audit/tlog/"):
        self._get = get
        self.prefix = prefix

    def checkpoint(self) -> str:
        return self._get(self.prefix + "checkpoint").decode()

    def tile(self, level: int, index: int, width: int) -> list[bytes]:
        data = self._get(self.prefix + tile_path(level, index, width))
        if len(data) != 32 * width:
            raise Mismatch(f"tile {level}/{index} of width {width} is {len(data)} bytes, not {32 * width}")
        return [data[i : i + 32] for i in range(0, len(data), 32)]

    def entries(self, index: int, width: int) -> list[bytes]:
        return split_bundle(self._get(self.prefix + tile_path("entries", index, width)), width)


# -- keys, and holder heads in the global trail --------------------------------------------------


def parse_vkey(vkey: str):
    try:
        return holder_proof.parse_vkey(vkey)
    except holder_proof.Invalid as exc:
        raise Failed(str(exc)) from exc


@dataclass
class HolderState:
    """What the monitor keeps per holder: the tree of the entries about them that heads have covered,
    and the entries since (leaf hash, global seq), which the next head must start with."""

    log_id: str | None = None
    size: int = 0
    nodes: list[bytes] = field(default_factory=list)
    pending: list[tuple[bytes, int]] = field(default_factory=list)
    heads: int = 0
    broken: bool = False

    def to_json(self) -> dict:
        return {"log_id": self.log_id, "size": self.size, "nodes": [n.hex() for n in self.nodes],
                "pending": [[leaf.hex(), seq] for leaf, seq in self.pending], "heads": self.heads,
                "broken": self.broken}

    @classmethod
    def from_json(cls, data: dict) -> "HolderState":
        return cls(log_id=data["log_id"], size=int(data["size"]), nodes=[bytes.fromhex(n) for n in data["nodes"]],
                   pending=[(bytes.fromhex(leaf), int(seq)) for leaf, seq in data["pending"]],
                   heads=int(data["heads"]), broken=bool(data["broken"]))

    def seen(self) -> int:
        return self.size + len(self.pending)


def check_head(holder: HolderState, head: Head, seq: int) -> str | None:
    """Checks a head against the global entries about its holder; None when it matches (and the
    holder's state moves to it), else what is wrong, in words."""
    where = f"the head of holder {head.holder}'s log at global seq {seq}"
    if holder.log_id is not None and head.log_id != holder.log_id:
        return f"{where} names log {head.log_id}, but earlier heads named {holder.log_id}"
    if head.size < holder.size:
        return f"{where} has {head.size} entries, fewer than the {holder.size} an earlier head had: rolled back"
    if head.size > holder.seen():
        extra = head.size - holder.seen()
        return (f"{where} has {head.size} entries, but the global trail holds only {holder.seen()} about holder "
                f"{head.holder} before it: {extra} added that the global trail does not have")
    tree = merkle.CompactRange(holder.size, holder.nodes)
    tree.extend([leaf for leaf, _ in holder.pending[: head.size - holder.size]])
    if tree.root() != head.root:
        left_out = _one_left_out(holder, head)
        if left_out is not None:
            return (f"{where} has {head.size} entries: global seq {left_out} about holder {head.holder} was "
                    "left out of it")
        return (f"{where} (size {head.size}, root {head.root.hex()}) is not the first {head.size} of the "
                f"{holder.seen()} global entries about holder {head.holder} (root {tree.root().hex()}): an entry "
                "was left out, added, changed or moved")
    holder.log_id = head.log_id
    holder.nodes = tree.nodes
    holder.pending = holder.pending[head.size - holder.size :]
    holder.size = head.size
    holder.heads += 1
    return None


def _one_left_out(holder: HolderState, head: Head) -> int | None:
    """The global seq of the one entry since the last good head whose absence gives the head's root, if
    there is one (a few hashes per pending entry: what came in since one checkpoint)."""
    count = head.size - holder.size
    if count < 0 or count >= len(holder.pending):
        return None
    candidates = holder.pending[: count + 1]
    for skip in range(len(candidates)):
        tree = merkle.CompactRange(holder.size, holder.nodes)
        tree.extend([leaf for i, (leaf, _) in enumerate(candidates) if i != skip])
        if tree.root() == head.root:
            return candidates[skip][1]
    return None


# -- the monitor's state -------------------------------------------------------------------------


@dataclass
class State:
    origin: str
    size: int = 0
    nodes: list[bytes] = field(default_factory=list)
    note: str = ""
    holders: dict[int, HolderState] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"format": STATE_FORMAT, "origin": self.origin, "size": self.size,
                "nodes": [n.hex() for n in self.nodes], "note": self.note,
                "holders": {str(k): v.to_json() for k, v in sorted(self.holders.items())},
                "mismatches": self.mismatches}

    @classmethod
    def from_json(cls, data: dict) -> "State":
        if data.get("format") != STATE_FORMAT:
            raise Failed("not a monitor state file")
        return cls(origin=data["origin"], size=int(data["size"]), nodes=[bytes.fromhex(n) for n in data["nodes"]],
                   note=data["note"], holders={int(k): HolderState.from_json(v) for k, v in data["holders"].items()},
                   mismatches=list(data["mismatches"]))


def load_state(path: str) -> State | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return State.from_json(json.load(handle))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Failed(f"{path}: {exc}") from exc


def save_state(path: str, state: State) -> None:
    """Writes the state atomically (a new file renamed over the old), readable by its owner only."""
    statefile.state_save(path, state.to_json(), prefix=".monitor-")


# -- one run ---------------------------------------------------------------------------------------


@dataclass
class Report:
    first: int  # the global size before this run
    size: int  # and after
    heads: int = 0  # holder heads checked in this run
    holders: set[int] = field(default_factory=set)
    new_mismatches: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)  # every one found so far, this run's included
    _owners: dict[str, int] | None = None

    def log_owners(self, state: "State") -> dict[str, int]:
        """Log id -> its holder, from the heads checked so far (one log is one holder's, for good)."""
        if self._owners is None:
            self._owners = {h.log_id: holder for holder, h in state.holders.items() if h.log_id is not None}
        return self._owners


def monitor_once(*, log: Tlog, log_vkey: str, state_path: str, say=print) -> Report:
    """One run: read what the global trail gained since the last run and check every holder head in it."""
    key_name, key = parse_vkey(log_vkey)
    note = log.checkpoint()
    checkpoint = open_note(note, key_name, key, "the global checkpoint")
    if checkpoint.origin != key_name:
        raise Mismatch(f"the global checkpoint's origin is {checkpoint.origin!r}, not {key_name!r}")
    state = load_state(state_path)
    if state is None:
        state = State(origin=checkpoint.origin)
        say(f"first run for {checkpoint.origin}: replaying {checkpoint.tree_size} entries from the first")
    elif state.origin != checkpoint.origin:
        raise Failed(f"the state file is for {state.origin}, not {checkpoint.origin}")
    if checkpoint.tree_size < state.size:
        raise Mismatch(f"the global trail now has {checkpoint.tree_size} entries but this monitor read {state.size}: "
                       "it was rolled back")
    report = Report(first=state.size, size=checkpoint.tree_size)
    tree = merkle.CompactRange(state.size, state.nodes)
    first = state.size - state.size % WIDTH if checkpoint.tree_size > state.size else state.size
    for start in range(first, checkpoint.tree_size, WIDTH):
        width = min(WIDTH, checkpoint.tree_size - start)
        index = start // WIDTH
        bodies = log.entries(index, width)
        leaves = [canonical.leaf_hash(body) for body in bodies]
        if log.tile(0, index, width) != leaves:
            raise Mismatch(f"tile 0/{index}: its hashes are not those of entry bundle {index}")
        skip = max(0, state.size - start)  # a partial bundle read last time: its first entries are known
        for offset in range(skip, width):
            _replay(state, report, bodies[offset], leaves[offset], seq=start + offset + 1)
        tree.extend(leaves[skip:])
    if tree.root() != checkpoint.root_hash:
        raise Mismatch(f"the entries up to {checkpoint.tree_size} do not make the signed root: the trail is not an "
                       f"extension of the {state.size} entries this monitor read before, or a bundle was changed")
    state.size, state.nodes, state.note = tree.size, tree.nodes, note
    state.mismatches.extend(report.new_mismatches)
    report.mismatches = list(state.mismatches)
    save_state(state_path, state)
    return report


def _replay(state: State, report: Report, body: bytes, leaf: bytes, *, seq: int) -> None:
    event = read_entry(body, f"global entry {seq}")
    if event.get("action") == HOLDER_HEAD:
        head = read_head(event, state.origin, f"global entry {seq}")
        holder = state.holders.setdefault(head.holder, HolderState())
        report.heads += 1
        report.holders.add(head.holder)
        if holder.broken:
            return  # said once; every later head of this log differs too
        owner = report.log_owners(state).setdefault(head.log_id, head.holder)
        problem = check_head(holder, head, seq)
        if owner != head.holder:
            problem = (f"the head at global seq {seq} names log {head.log_id} for holder {head.holder}, but it is "
                       f"holder {owner}'s log")
        if problem is not None:
            holder.broken = True
            report.new_mismatches.append(problem)
        return
    subject = event.get("subject_id")
    if is_int(subject):
        state.holders.setdefault(subject, HolderState()).pending.append((leaf, seq))


# -- command line ----------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holder", metavar="FILE", help="check a holder's downloaded log offline, and exit")
    parser.add_argument("--log-key", help="the log's verifier key (GET audit/public-key/ -> verifier_key, got "
                                          "through a channel you trust)")
    sub = parser.add_subparsers(dest="command")
    p_run = sub.add_parser("run", help="read what the global trail gained and check every holder head in it")
    p_run.add_argument("--log", required=True, help="the API base URL, e.g. https://consent.example/api/v1/")
    p_run.add_argument("--token", default=os.environ.get("CONSENTSVC_AUDITOR_TOKEN"),
                       help="an auditor API token (default: $CONSENTSVC_AUDITOR_TOKEN)")
    p_run.add_argument("--log-key", dest="run_log_key", required=True, help="as --log-key")
    p_run.add_argument("--state", required=True, help="where the monitor keeps what it read (JSON)")
    args = parser.parse_args(argv)
    try:
        if args.holder:
            return _main_holder(args.holder, args.log_key)
        if args.command != "run":
            parser.error("say `run ...` or `--holder FILE`")
        report = monitor_once(log=Tlog(Http(args.log, args.token).get), log_vkey=args.run_log_key,
                              state_path=args.state)
        print(f"global trail: entries {report.first + 1}..{report.size} read; {report.heads} holder heads of "
              f"{len(report.holders)} holders checked")
        for problem in report.mismatches:
            print(f"MISMATCH: {problem}", file=sys.stderr)
        return 1 if report.mismatches else 0
    except Mismatch as exc:
        print(f"MISMATCH: {exc}", file=sys.stderr)
        return 1
    except Failed as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2


def _main_holder(path: str, log_key: str | None) -> int:
    try:
        with open(path, encoding="utf-8") as handle:
            bundle = json.load(handle)
    except (OSError, ValueError) as exc:
        raise Failed(f"{path}: {exc}") from exc
    found = verify_holder_bundle(bundle, log_key)
    print(f"OK {found.origin}: {found.size} entries, all about holder {found.holder}, exactly the log whose head is "
          f"global entry {found.leaf_index + 1} of the signed global checkpoint of {found.global_size} entries")
    return 0


def verify_holder_bundle(bundle, log_vkey: str | None = None, say=print) -> holder_proof.BundleSummary:
    """Checks a holder's downloaded log offline (audit.holder_proof.verify_bundle), under --log-key if given,
    else under the key the file names (said, so the holder compares it with one got elsewhere)."""
    if not isinstance(bundle, dict) or bundle.get("format") != holder_proof.BUNDLE_FORMAT:
        raise Failed(f"not a holder log file ({holder_proof.BUNDLE_FORMAT})")
    named = bundle.get("verifier_key")
    if log_vkey is None:
        if not isinstance(named, str):
            raise Mismatch("the file names no signing key; pass --log-key")
        log_vkey = named
        say(f"the signing key is the one the file names ({named}); pass --log-key to check it against one you "
            "got elsewhere")
    elif named is not None and named.strip() != log_vkey.strip():
        raise Mismatch("the file names another signing key than --log-key")
    parse_vkey(log_vkey)
    return holder_proof.verify_bundle(bundle, log_vkey)


if __name__ == "__main__":
    sys.exit(main())
