"""The phone witnesses its access history (camera_roll_sync.history): a holder log and a global trail served
from memory as a misbehaving service would serve them, rolled back, forked, re-keyed or uncommitted."""

import base64
import random
from pathlib import Path

import pytest

from audit import canonical, merkle
from camera_roll_sync import history, tlog
from camera_roll_sync.api import ApiError, ConsentState, Uploaded
from camera_roll_sync.state import State
from camera_roll_sync.sync import Options, Syncer
from tests.audit.tlog_fake import FakeLog, Missing, event, holder_head

GLOBAL = "consentsvc.test/audit"
LOG_ID = "4f" * 16
ALICE = 7


class Service:
    """alice's holder log, committed into the global trail at each checkpoint, as the API serves them."""

    def __init__(self):
        self.trail = FakeLog(GLOBAL)
        self.log = FakeLog(f"{GLOBAL}/holder/{LOG_ID}", key=self.trail.key, key_name=GLOBAL)
        self.commitment: dict | None = None
        self.tiles_fetched: list[str] = []

    def grow(self, n: int, *, commit: bool = True):
        for _ in range(n):
            body = event(len(self.trail.bodies) + 1, subject_id=ALICE)
            self.trail.append(body, event(len(self.trail.bodies) + 2, subject_id=None))
            self.log.append(body)
        self.log.sign()
        if commit:
            self.commit()

    def commit(self, *, head_bodies: list[bytes] | None = None):
        committed_note = self.log.note
        head = holder_head(len(self.trail.bodies) + 1, global_origin=GLOBAL, holder=ALICE, log_id=LOG_ID,
                           bodies=self.log.bodies[: self.log.size] if head_bodies is None else head_bodies)
        self.trail.append(head)
        self.trail.sign()
        index = len(self.trail.bodies) - 1
        leaves = [canonical.leaf_hash(b) for b in self.trail.bodies]
        proof = merkle.inclusion_proof(index, len(leaves), iter(leaves))
        self.commitment = {"holder_checkpoint": committed_note, "global_checkpoint": self.trail.note,
                           "leaf_index": index, "entry": base64.b64encode(head).decode(),
                           "inclusion_proof": [base64.b64encode(p).decode() for p in proof],
                           "verifier_key": self.trail.vkey}

    def rewrite(self, bodies: list[bytes]):
        """The operator's move: a holder log of other entries, signed and committed like the real one."""
        self.log.bodies = list(bodies)
        self.log.sign()
        self.commit()

    # the client's Api, for the holder log only
    def holder_checkpoint(self):
        return self.log.note or None

    def holder_commitment(self):
        return self.commitment

    def holder_tile(self, path):
        self.tiles_fetched.append(path)
        try:
            return self.log.get(path)
        except Missing:
            raise ApiError(404, "holder_tile_not_found", path) from None


@pytest.fixture
def service():
    return Service()


@pytest.fixture
def state(tmp_path):
    db = State(Path(tmp_path) / "state.sqlite3")
    db.set_account("http://phone.test|alice")
    yield db
    db.close()


def _check(service, state, when="2026-12-06T21:00:00+00:00"):
    return history.witness(service, state, now=lambda: when)


def test_it_verifies_the_history_and_then_each_growth_from_the_tiles(service, state):
    service.grow(5)
    status = _check(service, state)
    assert status.line() == ("Your access history: 5 entries, verified (since 2026-12-06T21:00:00+00:00; last "
                             "checked 2026-12-06T21:00:00+00:00)")
    service.commitment = None  # the same log, committed last time: not asked for again
    assert _check(service, state, when="2026-12-06T21:30:00+00:00").checked == "2026-12-06T21:30:00+00:00"
    service.commit()
    service.grow(300)
    status = _check(service, state, when="2026-12-06T22:00:00+00:00")
    assert (status.verified, status.entries, status.since) == (True, 305, "2026-12-06T21:00:00+00:00")
    assert service.tiles_fetched and all(p.startswith("tile/") for p in service.tiles_fetched)
    assert history.recorded(state).entries == 305


def test_it_refuses_a_rolled_back_history_and_keeps_refusing(service, state):
    service.grow(10)
    _check(service, state)
    service.rewrite(service.log.bodies[:7])  # three events about alice hidden, the rest re-signed and committed
    with pytest.raises(history.HistoryNotVerified, match="rolled back"):
        _check(service, state)
    assert history.recorded(state).line().startswith("Your access history: NOT verified: ")
    service.grow(5)  # growing past the old size does not make it extend what the phone saw
    with pytest.raises(history.HistoryNotVerified, match="forked"):
        _check(service, state)
    assert tlog.open_checkpoint(state.meta("history_note"), state.meta("history_key")).size == 10


def test_it_refuses_an_older_checkpoint_even_beside_the_newer_commitment(service, state):
    service.grow(5)
    old_note = service.log.note
    service.grow(3)
    _check(service, state)
    service.log.note = old_note  # the newest checkpoint served is one from before what the phone verified
    with pytest.raises(history.HistoryNotVerified, match="rolled back"):
        _check(service, state)


def test_it_refuses_a_fork_of_the_same_size(service, state):
    service.grow(10)
    _check(service, state)
    bodies = list(service.log.bodies)
    bodies[4] = event(9999, subject_id=ALICE)
    service.rewrite(bodies)
    with pytest.raises(history.HistoryNotVerified, match="forked"):
        _check(service, state)


def test_it_refuses_a_head_not_in_the_signed_global_checkpoint(service, state):
    service.grow(4)
    service.commitment["inclusion_proof"] = service.commitment["inclusion_proof"][:-1]
    with pytest.raises(history.HistoryNotVerified, match="did not check out"):
        _check(service, state)
    service.commit(head_bodies=service.log.bodies[:3])  # a head that is not the holder checkpoint's
    with pytest.raises(history.HistoryNotVerified, match="not the head of this log"):
        _check(service, state)


def test_it_refuses_another_signing_key_than_the_one_it_first_saw(service, state):
    service.grow(3)
    _check(service, state)
    other = Service()
    other.grow(4)
    with pytest.raises(history.HistoryNotVerified, match="another key"):
        _check(other, state)


def test_nothing_is_uploaded_once_the_history_does_not_verify(service, state, tmp_path):
    service.grow(6)
    _check(service, state)
    service.rewrite(service.log.bodies[:5])
    roll = tmp_path / "roll"
    roll.mkdir()
    photo = roll / "IMG_0001.JPG"
    photo.write_bytes(b"not really a photo")
    sent = []

    class Phone:
        def consent(self):
            return ConsentState(granted=True, notice_version="1", since="2026-12-01T00:00:00Z")

        def upload(self, **kwargs):
            sent.append(kwargs)
            return Uploaded(media_id=1, duplicate=False, sha256="")

    syncer = Syncer(api=Phone(), state=state, root=roll, options=Options(days=99999, progress=False),
                    witness=lambda: history.witness(service, state))
    with pytest.raises(history.HistoryNotVerified):
        syncer.sync_once()
    assert sent == []


def test_a_new_account_starts_a_new_history(service, state):
    service.grow(3)
    _check(service, state)
    state.set_account("http://phone.test|bob")
    assert history.recorded(state).problem == "not verified yet"


def test_unanswered_or_uncommitted_leaves_it_unverified_and_uploads_go_on(service, state):
    assert _check(service, state).problem.startswith("not verified yet")
    service.grow(2)

    class Away(Service):
        def holder_checkpoint(self):
            raise ApiError(0, "unreachable", "No answer")

    assert _check(Away(), state).problem == "not checked this time (No answer)"


@pytest.mark.parametrize("seed", range(3))
def test_consistency_from_tiles_is_rfc_9162s(seed):
    rng = random.Random(seed)
    log = FakeLog("t/holder/x")
    log.append(*[event(i + 1, subject_id=1) for i in range(rng.randrange(2, 3000))])
    log.sign()
    leaves = [canonical.leaf_hash(b) for b in log.bodies]
    tiles = tlog.Tiles(len(leaves), log.get)
    for first in [1, 2, 255, 256, 257, rng.randrange(1, len(leaves))]:
        if first >= len(leaves):
            continue
        proof = tiles.consistency_proof(first)
        assert proof == merkle.consistency_proof(first, len(leaves), iter(leaves))
        tlog.verify_consistency(first, len(leaves), merkle.root_of(leaves[:first]), merkle.root_of(leaves), proof)


def test_run_and_status_exit_7_when_the_history_does_not_verify(service, tmp_path, monkeypatch, capsys):
    from camera_roll_sync import cli, config

    path = tmp_path / "phone" / "config.json"
    config.save(path, config.Config(server="http://127.0.0.1:9", username="alice", token="t", device="phone"))
    phone_state = State(config.state_path(path))
    phone_state.set_account("http://127.0.0.1:9|alice")
    service.grow(4)
    _check(service, phone_state)
    service.rewrite(service.log.bodies[:2])
    phone_state.close()
    real = history.witness
    # The phone's own Api (its server is this test's Service), everything else as the command runs it.
    monkeypatch.setattr(history, "witness", lambda api, state, **kw: real(service, state, **kw))
    roll = tmp_path / "roll"
    roll.mkdir()
    assert cli.main(["run", "--once", "--config", str(path), str(roll)]) == cli.EXIT_HISTORY == 7
    assert "Your access history rolled back or forked" in capsys.readouterr().err
    assert cli.main(["status", "--config", str(path)]) == 7
    assert "Your access history: NOT verified: the service's log of your access history rolled back" in \
        capsys.readouterr().out

