"""The sync client fails closed against a server that answers nonsense: only JSON `true` turns the
feature on, and an answer that is not the API's documented shape ends the run with exit code 6 and
one line saying so, never a traceback, with nothing more sent."""

import json
from datetime import datetime
from http.server import BaseHTTPRequestHandler

import pytest

from camera_roll_sync import cli, config
from camera_roll_sync.state import State
from tests.sync.conftest import make_photo
from tests.sync.loopback import LoopbackServer

TAKEN = datetime(2026, 11, 20, 10, 15)
CONSENT_ON = {"purposes": [{"purpose": "camera_roll_cloud_processing", "granted": True, "notice_version": "1",
                            "since": "2026-11-01T00:00:00Z"}]}


class NonsenseServer(LoopbackServer):
    """A loopback server that answers each (method, path) with the status and body it is given."""

    def __init__(self, answers: dict[tuple[str, str], tuple[int, bytes]]):
        self.answers = answers
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests.append((self.command, self.path))
                status, body = server.answers.get((self.command, self.path), (404, b'{"error": {"code": '
                                                                                     b'"not_found", "message": "no"}}'))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self._serve(Handler)

    def uploads(self) -> int:
        return sum(1 for request in self.requests if request == ("POST", "/api/v1/media/"))


def as_json(value) -> bytes:
    return json.dumps(value).encode()


def consent_says(granted) -> bytes:
    return as_json({"purposes": [{**CONSENT_ON["purposes"][0], "granted": granted}]})


def run_once(server: NonsenseServer, tmp_path, photos: int = 3) -> int:
    path = tmp_path / "config.json"
    config.save(path, config.Config(server=server.url, username="alice", token="t", device="phone"))
    for n in range(photos):
        make_photo(tmp_path / "roll" / f"IMG_{n}.jpg", taken=TAKEN, seed=n)
    return cli.main(["run", "--once", "--no-progress", "--retries", "1", "--days", "100000", "--config",
                     str(path), str(tmp_path / "roll")])


def waiting(tmp_path) -> dict:
    state = State(config.state_path(tmp_path / "config.json"))
    try:
        return state.counts()
    finally:
        state.close()


@pytest.mark.parametrize("granted", ["false", "true", 1, "yes", None, [], {}, [True]])
def test_anything_but_json_true_is_off(tmp_path, capsys, granted):
    answers = {("GET", "/api/v1/consent/"): (200, consent_says(granted)),
               ("POST", "/api/v1/media/"): (201, as_json({"id": 1, "duplicate": False, "sha256": "x"}))}
    with NonsenseServer(answers) as server:
        assert run_once(server, tmp_path) == cli.EXIT_CONSENT_OFF
        assert server.uploads() == 0
    assert "Camera Roll Sharing Suggestions is off" in capsys.readouterr().out
    assert waiting(tmp_path) == {"waiting": 3}


def test_json_true_is_on(tmp_path, capsys):
    ids = iter(range(1, 10))

    class Counting(dict):
        def get(self, key, default=None):
            if key == ("POST", "/api/v1/media/"):
                return 201, as_json({"id": next(ids), "duplicate": False, "sha256": "x"})
            return super().get(key, default)

    with NonsenseServer(Counting({("GET", "/api/v1/consent/"): (200, as_json(CONSENT_ON))})) as server:
        assert run_once(server, tmp_path) == cli.EXIT_OK
        assert server.uploads() == 3


@pytest.mark.parametrize(("what", "answers"), [
    ("an upload answered with a list", {("POST", "/api/v1/media/"): (201, b"[1,2,3]")}),
    ("an upload answered with HTML", {("POST", "/api/v1/media/"): (201, b"<html>Welcome</html>")}),
    ("an upload whose id is text", {("POST", "/api/v1/media/"): (201, as_json({"id": "12"}))}),
    ("an upload whose id is true", {("POST", "/api/v1/media/"): (201, as_json({"id": True}))}),
    ("an upload answered with nothing", {("POST", "/api/v1/media/"): (201, b"")}),
    ("a consent answer that is a list", {("GET", "/api/v1/consent/"): (200, b"[1,2,3]")}),
    ("a consent answer that is not JSON", {("GET", "/api/v1/consent/"): (200, b"{granted: true")}),
    ("purposes that are not a list", {("GET", "/api/v1/consent/"): (200, as_json({"purposes": "all"}))}),
    ("a purpose that is not an object", {("GET", "/api/v1/consent/"): (200, as_json({"purposes": [1]}))}),
])
def test_a_malformed_answer_stops_the_run_with_one_line_and_exit_6(tmp_path, capsys, what, answers):
    answers = {("GET", "/api/v1/consent/"): (200, as_json(CONSENT_ON)), **answers}
    with NonsenseServer(answers) as server:
        assert run_once(server, tmp_path) == cli.EXIT_MALFORMED == 6
        assert server.uploads() <= 2  # the batch's uploads in flight at most (2 at once), then nothing more
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("The server's answer to ") and "made no sense" in lines[0]
    assert waiting(tmp_path) == {"waiting": 3}  # nothing counted as uploaded on a nonsense answer


def test_the_continuous_run_stops_on_a_malformed_answer_too(tmp_path, capsys):
    path = tmp_path / "config.json"
    answers = {("GET", "/api/v1/consent/"): (200, b"[1,2,3]")}
    with NonsenseServer(answers) as server:
        config.save(path, config.Config(server=server.url, username="alice", token="t", device="phone"))
        make_photo(tmp_path / "roll" / "IMG_0.jpg", taken=TAKEN)
        code = cli.main(["run", "--no-progress", "--days", "100000", "--config", str(path), str(tmp_path / "roll")])
    assert code == cli.EXIT_MALFORMED
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("body", [b"[1,2,3]", b"{}", as_json({"token": ""}), as_json({"token": 7}), b"<html>"])
def test_a_login_answered_with_nonsense_keeps_no_token(tmp_path, capsys, monkeypatch, body):
    monkeypatch.setenv(config.ENV_PASSWORD, "pw")
    with NonsenseServer({("POST", "/api/v1/auth/token/"): (201, body)}) as server:
        code = cli.main(["login", "--server", server.url, "--username", "alice", "--config",
                         str(tmp_path / "config.json")])
    assert code == cli.EXIT_MALFORMED
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "made no sense" in err
    assert not (tmp_path / "config.json").exists()


def test_status_says_off_for_a_string_true(tmp_path, capsys):
    path = tmp_path / "config.json"
    with NonsenseServer({("GET", "/api/v1/consent/"): (200, consent_says("true"))}) as server:
        config.save(path, config.Config(server=server.url, username="alice", token="t", device="phone"))
        assert cli.main(["status", "--config", str(path)]) == cli.EXIT_OK
    assert "Camera Roll Sharing Suggestions: off" in capsys.readouterr().out
