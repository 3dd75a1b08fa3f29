"""tools/monitor.py against a global trail served as tlog-tiles, with holder heads planted as a
misbehaving service would commit them: one event left out of a holder's log, one added to it."""

import base64
import json

import pytest

from tests.audit.tlog_fake import FakeLog, commitment, event, holder_head
from tests.tools import load_tool

ORIGIN = "consentsvc.test/audit"
ALICE, BOB = 7, 8
ALICE_LOG, BOB_LOG = "a" * 32, "b" * 32


monitor = load_tool("monitor")


class Trail:
    """A global trail being written: events about holders, and heads of their logs committed into it."""

    def __init__(self):
        self.log = FakeLog(ORIGIN)
        self.about: dict[int, list[bytes]] = {ALICE: [], BOB: []}

    def events(self, n: int, holders=(ALICE, BOB, None)):
        for i in range(n):
            subject = holders[i % len(holders)]
            body = event(len(self.log.bodies) + 1, subject_id=subject)
            self.log.append(body)
            if subject is not None:
                self.about[subject].append(body)

    def head(self, holder: int, bodies: list[bytes] | None = None):
        """Commits the head of `holder`'s log: its entries as the service keeps them (by default, right)."""
        log_id = ALICE_LOG if holder == ALICE else BOB_LOG
        self.log.append(holder_head(len(self.log.bodies) + 1, global_origin=ORIGIN, holder=holder, log_id=log_id,
                                    bodies=list(self.about[holder]) if bodies is None else bodies))

    def run(self, state_path):
        self.log.sign()
        return monitor.monitor_once(log=monitor.Tlog(self.log.get, prefix=""), log_vkey=self.log.vkey,
                                    state_path=str(state_path), say=lambda _: None)


@pytest.fixture
def trail():
    return Trail()


def test_it_checks_every_head_and_reads_only_what_is_new(trail, tmp_path):
    state = tmp_path / "state.json"
    trail.events(300)
    trail.head(ALICE)
    trail.events(5)  # about them, after the head: the next head covers them
    trail.head(BOB)
    report = trail.run(state)
    assert (report.first, report.size, report.heads, report.mismatches) == (0, 307, 2, [])

    trail.log.fetched.clear()
    trail.events(40)
    trail.head(ALICE)
    trail.head(BOB)
    report = trail.run(state)
    assert (report.first, report.size, report.heads, report.mismatches) == (307, 349, 2, [])
    # Only the bundle the last run read part of, and its level-0 tile: nothing before it.
    assert sorted(trail.log.fetched) == ["checkpoint", "tile/0/001.p/93", "tile/entries/001.p/93"]
    trail.log.fetched.clear()
    assert trail.run(state).size == 349
    assert trail.log.fetched == ["checkpoint"]  # nothing new: nothing read
    saved = json.loads(state.read_text())
    assert saved["holders"][str(ALICE)]["size"] == len(trail.about[ALICE])
    assert (state.stat().st_mode & 0o777) == 0o600


def test_it_finds_an_event_left_out_of_a_holders_log(trail, tmp_path):
    trail.events(30)
    trail.head(ALICE)
    trail.events(12)
    about_alice = list(trail.about[ALICE])
    left_out = about_alice.pop(12)  # the first event about alice after her last head
    trail.head(ALICE, about_alice)
    report = trail.run(tmp_path / "state.json")
    seq = trail.log.bodies.index(left_out) + 1
    assert report.new_mismatches == [
        f"the head of holder {ALICE}'s log at global seq {len(trail.log.bodies)} has 13 entries: global seq {seq} "
        f"about holder {ALICE} was left out of it"]


def test_it_finds_an_event_added_to_a_holders_log(trail, tmp_path):
    trail.events(30)
    trail.head(BOB)
    trail.events(6)
    added = event(999, subject_id=BOB)  # in bob's log, never in the global trail
    trail.head(BOB, [*trail.about[BOB], added])
    report = trail.run(tmp_path / "state.json")
    assert len(report.new_mismatches) == 1
    assert "has 13 entries, but the global trail holds only 12 about holder 8 before it: 1 added" in \
        report.new_mismatches[0]


def test_it_finds_an_event_added_in_the_middle_or_moved(trail, tmp_path):
    trail.events(30)
    swapped = list(trail.about[ALICE])
    swapped[2], swapped[3] = swapped[3], swapped[2]
    trail.head(ALICE, swapped)
    trail.events(3)
    trail.head(BOB, [event(998, subject_id=BOB), *trail.about[BOB][:-1]])
    report = trail.run(tmp_path / "state.json")
    assert len(report.new_mismatches) == 2
    assert all("an entry was left out, added, changed or moved" in m for m in report.new_mismatches)


def test_a_mismatch_is_said_again_at_every_run_and_the_exit_status_says_so(trail, tmp_path, capsys):
    trail.events(10)
    trail.head(ALICE, trail.about[ALICE][1:])
    state = tmp_path / "state.json"
    trail.run(state)
    trail.events(10)
    trail.head(ALICE)  # a later head does not clear it: the log is the same tree, wrong from its start
    report = trail.run(state)
    assert report.new_mismatches == [] and len(report.mismatches) == 1


def test_a_head_with_fewer_entries_than_before_is_a_rollback(trail, tmp_path):
    trail.events(10)
    trail.head(ALICE)
    trail.head(ALICE, trail.about[ALICE][:-1])
    report = trail.run(tmp_path / "state.json")
    assert report.new_mismatches and "rolled back" in report.new_mismatches[0]


def test_a_holder_log_that_changes_its_id_is_found(trail, tmp_path):
    trail.events(10)
    trail.head(ALICE)
    trail.log.append(holder_head(len(trail.log.bodies) + 1, global_origin=ORIGIN, holder=ALICE, log_id="c" * 32,
                                 bodies=trail.about[ALICE]))
    report = trail.run(tmp_path / "state.json")
    assert report.new_mismatches and "earlier heads named" in report.new_mismatches[0]


def test_one_log_is_one_holders(trail, tmp_path):
    trail.events(10)
    trail.head(ALICE)
    trail.log.append(holder_head(len(trail.log.bodies) + 1, global_origin=ORIGIN, holder=BOB, log_id=ALICE_LOG,
                                 bodies=trail.about[BOB]))
    report = trail.run(tmp_path / "state.json")
    assert report.new_mismatches == [f"the head at global seq 12 names log {ALICE_LOG} for holder {BOB}, but it is "
                                     f"holder {ALICE}'s log"]


def test_it_refuses_a_global_trail_rolled_back_or_rewritten(trail, tmp_path):
    state = tmp_path / "state.json"
    trail.events(20)
    trail.run(state)
    before = state.read_text()
    del trail.log.bodies[15:]
    with pytest.raises(monitor.Mismatch, match="rolled back"):
        trail.run(state)
    trail.log.bodies[10] = event(10_000, subject_id=ALICE)  # a rewritten past, re-signed, and grown
    trail.events(10)
    with pytest.raises(monitor.Mismatch, match="not an extension"):
        trail.run(state)
    assert state.read_text() == before  # nothing of a refused run is kept


def test_it_refuses_tiles_that_are_not_the_entries(trail, tmp_path):
    trail.events(20)
    trail.log.sign()
    trail.log.tile_override["tile/0/000.p/20"] = bytes(32 * 20)
    with pytest.raises(monitor.Mismatch, match="tile 0/0"):
        trail.run(tmp_path / "state.json")


def test_it_refuses_a_checkpoint_signed_by_another_key(trail, tmp_path):
    trail.events(3)
    other = FakeLog(ORIGIN)
    trail.log.sign()
    with pytest.raises(monitor.Mismatch, match="signature"):
        monitor.monitor_once(log=monitor.Tlog(trail.log.get, prefix=""), log_vkey=other.vkey,
                             state_path=str(tmp_path / "s.json"), say=lambda _: None)


# -- a holder's download, offline (--holder) ------------------------------------------------------


def _download(tmp_path, *, entries=None, name="history.json"):
    trail = FakeLog(ORIGIN)
    log = FakeLog(f"{ORIGIN}/holder/{ALICE_LOG}", key=trail.key, key_name=ORIGIN)
    for i in range(40):
        body = event(len(trail.bodies) + 1, subject_id=ALICE if i % 2 else BOB)
        trail.append(body)
        if i % 2:
            log.append(body)
    log.sign()
    found = commitment(trail, log, holder=ALICE, log_id=ALICE_LOG)
    bundle = {"format": "consentsvc-holder-log/1", "verifier_key": trail.vkey, "commitment": found,
              "entries": [base64.b64encode(b).decode() for b in (log.bodies if entries is None else entries(log))]}
    path = tmp_path / name
    path.write_text(json.dumps(bundle))
    return path, trail


def test_a_holders_download_checks_out_offline(tmp_path, capsys):
    path, trail = _download(tmp_path)
    assert monitor.main(["--holder", str(path), "--log-key", trail.vkey]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {ORIGIN}/holder/{ALICE_LOG}: 20 entries, all about holder {ALICE}, exactly the log")


def test_a_download_with_an_entry_left_out_added_or_of_someone_else_is_refused(tmp_path, capsys):
    cases = {
        "left out": lambda log: log.bodies[:5] + log.bodies[6:],
        "added": lambda log: [*log.bodies, event(500, subject_id=ALICE)],
        "someone else's": lambda log: [*log.bodies[:-1], event(501, subject_id=BOB)],
    }
    for name, entries in cases.items():
        path, trail = _download(tmp_path, entries=entries, name=f"{name}.json")
        assert monitor.main(["--holder", str(path), "--log-key", trail.vkey]) == 1, name
        assert "MISMATCH" in capsys.readouterr().err


def test_a_download_under_another_key_than_the_one_given_is_refused(tmp_path, capsys):
    path, _ = _download(tmp_path)
    assert monitor.main(["--holder", str(path), "--log-key", FakeLog(ORIGIN).vkey]) == 1
    assert "another signing key" in capsys.readouterr().err
    assert monitor.main(["--holder", str(path)]) == 0  # the file's own key: said, and checked
    assert "the signing key is the one the file names" in capsys.readouterr().out


def test_the_command_line_reads_the_trail_over_http_and_exits_1_on_a_mismatch(trail, tmp_path, capsys):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            assert self.headers["Authorization"] == "Token auditor-token"
            path = self.path.removeprefix("/api/v1/audit/tlog/")
            try:
                body = trail.log.get(path)
            except Exception:  # noqa: BLE001 (a path the fake does not serve)
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    args = ["run", "--log", f"http://127.0.0.1:{server.server_port}/api/v1/", "--token", "auditor-token",
            "--log-key", trail.log.vkey, "--state", str(tmp_path / "state.json")]
    try:
        trail.events(20)
        trail.head(ALICE)
        trail.log.sign()
        assert monitor.main(args) == 0
        assert "entries 1..21 read; 1 holder heads of 1 holders checked" in capsys.readouterr().out
        trail.events(3)
        trail.head(BOB, trail.about[BOB][1:])
        trail.log.sign()
        assert monitor.main(args) == 1
        assert f"MISMATCH: the head of holder {BOB}'s log" in capsys.readouterr().err
    finally:
        server.shutdown()
