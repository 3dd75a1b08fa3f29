"""The README's tour, "Try the whole feature in two minutes", taken as written from a fresh clone.

The repository is cloned (`git clone` of the commit checked out: what is committed is what is tried) into a
temporary folder, and every line of the tour's `sh` blocks is run there, in order, through bash, exactly as
the README has it but for two substitutions: the server's address (http://127.0.0.1:8000 becomes a free
port) and /tmp/camera-roll (a folder of this test's own, so runs never meet). `bin/serve` is the clone's own
script (migrations, demo accounts, gunicorn and the job worker; its files under the clone's var/), with
SUGGESTIONS_DEBOUNCE_SECONDS=5 and BIND set. Each command must exit as its comment says ("exits 3",
else 0); the watching `run` is stopped with Ctrl-C once the photos are up and must exit 0. The steps the
README does on web pages (turn the feature and face grouping on, name the two people, "Make suggestions
now", share, turn the feature off) are done through the API as alice, and what the README says appears is
checked: the trip, its recap (a <video> on /suggestions/), a style, the people, "Ana and Ben in Lisbon", the
access history's line, the recipient's page, and the watching phone saying the feature is off.
At the end the clone has no change and no new file that git would see.

The clone reuses this test's virtualenv (TOUR_VENV, else the one running pytest) as its .venv instead of
installing one: bin/serve's `source bin/_venv` then installs nothing, as long as the virtualenv is up to
date with requirements*.txt (bin/test makes it so; otherwise this test fails and says so). Slow (two
suggestion passes with face grouping and recap videos, a few minutes): marked `tour`, run by bin/test as
a step of its own.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from hashlib import sha256
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.tour

REPO = Path(__file__).resolve().parent.parent
README_URL = "http://127.0.0.1:8000"
README_ROLL = "/tmp/camera-roll"
DEMO_PHOTOS = 16
SERVER_START_SECONDS = 300
SUGGESTIONS_SECONDS = 900


def tour_section(readme: str) -> str:
    return readme.split("## Try the whole feature", 1)[1].split("\n### ", 1)[0]


def split_comment(line: str) -> tuple[str, str]:
    """A shell line's command and its comment (after a # that starts a word), both stripped."""
    found = re.search(r"(?:^|\s)#(?:\s|$)", line)
    if found is None:
        return line.strip(), ""
    return line[:found.start()].strip(), line[found.end():].strip()


def tour_commands(readme: str) -> list[tuple[str, str]]:
    """(command, comment) for every line of the tour's sh blocks, in order (a comment-only line adds to the
    comment of the command above it)."""
    found: list[tuple[str, str]] = []
    for block in re.findall(r"```sh\n(.*?)```", tour_section(readme), flags=re.S):
        for line in block.splitlines():
            command, comment = split_comment(line)
            if command:
                found.append((command, comment))
            elif comment and found:
                found[-1] = (found[-1][0], f"{found[-1][1]} {comment}")
    return found


def expected_exit(comment: str) -> int:
    said = re.search(r"\bexits (\d+)", comment)
    return int(said.group(1)) if said else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, seconds: float, *, every: float = 1.0, alive=None, show=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}" + (f": {show()}" if show else ""))


def requirements_stamp(root: Path) -> str:
    data = (root / "requirements.txt").read_bytes() + (root / "requirements-dev.txt").read_bytes()
    return f".requirements-{sha256(data).hexdigest()[:16]}"


class Alice:
    """alice on the live server: the API with a token, and the web pages with a session."""

    def __init__(self, url: str, password: str):
        self.url = url
        token = httpx.post(f"{url}/api/v1/auth/token/", json={"username": "alice", "password": password,
                                                                "device": "tour-test"}, timeout=30)
        assert token.status_code == 200, token.text
        self.api = httpx.Client(base_url=f"{url}/api/v1", timeout=60,
                                headers={"Authorization": f"Token {token.json()['token']}"})
        self.web = httpx.Client(base_url=url, timeout=60, follow_redirects=True)
        form = self.web.get("/accounts/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        signed_in = self.web.post("/accounts/login/", data={"username": "alice", "password": password,
                                                            "csrfmiddlewaretoken": csrf},
                                  headers={"Referer": f"{url}/accounts/login/"})
        assert signed_in.status_code == 200 and "/accounts/login/" not in str(signed_in.url), signed_in.text[:500]

    def turn_on(self, purpose: str) -> None:
        notice = self.api.get(f"/consent/notices/{purpose}/")
        assert notice.status_code == 200, notice.text
        done = self.api.put(f"/consent/{purpose}/", json={"granted": True, "notice_version": notice.json()["version"]})
        assert done.status_code == 200, done.text

    def media_count(self) -> int:
        return self.api.get("/media/").json()["count"]

    def suggestions(self) -> list[dict]:
        found, page = [], self.api.get("/suggestions/").json()
        found += page["results"]
        while page.get("next"):
            page = self.api.get(page["next"]).json()
            found += page["results"]
        return found

    def titles(self) -> set[tuple[str, str]]:
        return {(s["kind"], s["title"]) for s in self.suggestions()}


def test_the_readme_tour_runs_as_written_from_a_fresh_clone(tmp_path):
    venv = Path(os.environ.get("TOUR_VENV") or sys.prefix)
    if not (venv / requirements_stamp(REPO)).exists():
        pytest.fail(f"{venv} is not up to date with requirements*.txt (bin/serve would install into it): run bin/test, "
                    "which updates .venv, or set TOUR_VENV to an up-to-date virtualenv")
    clone = tmp_path / "consentsvc"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=300)
    (clone / ".venv").symlink_to(venv)
    readme = (clone / "README.md").read_text()
    commands = tour_commands(readme)
    assert commands[0][0] == "bin/serve" and commands[1][0] == "source .venv/bin/activate", commands[:2]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    roll = tmp_path / "camera-roll"
    password = re.search(r"password: (\S+)", dict(commands)[next(c for c, _ in commands if " login " in c)]).group(1)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DJANGO", "DATABASE_URL", "VAR_DIR", "VIRTUAL_ENV", "PYTHON", "CONSENTSVC"))}
    server_env = {**base, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "SUGGESTIONS_DEBOUNCE_SECONDS": "5"}
    # `source .venv/bin/activate`, and the clone's own sync client before the one the virtualenv was
    # installed from (an editable install of another checkout).
    phone_env = {**base, "VIRTUAL_ENV": str(clone / ".venv"), "PATH": f"{clone / '.venv' / 'bin'}:{base['PATH']}",
                 "PYTHONPATH": str(clone), "CONSENTSVC_PASSWORD": password,
                 "CONSENTSVC_SYNC_CONFIG": str(tmp_path / "phone" / "config.json")}
    which = subprocess.run(["python", "-c", "import camera_roll_sync; print(camera_roll_sync.__file__)"], cwd=clone,
                           env=phone_env, capture_output=True, text=True, check=True)
    assert which.stdout.startswith(str(clone)), which.stdout

    def as_run(command: str) -> str:
        return command.replace(README_URL, url).replace(README_ROLL, str(roll))

    with open(tmp_path / "serve.log", "w") as serve_log:
        server = subprocess.Popen(["bash", "-c", as_run(commands[0][0])], cwd=clone, env=server_env,
                                  stdout=serve_log, stderr=subprocess.STDOUT, start_new_session=True)
    watching = None
    watch_log = tmp_path / "watching.log"
    try:
        def server_alive():
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-4000:]

        def answers():
            try:
                return httpx.get(f"{url}/accounts/login/", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("bin/serve to answer", answers, SERVER_START_SECONDS, alive=server_alive)
        log = (tmp_path / "serve.log").read_text()
        assert "Demo accounts" in log and f"password: {password}" in log

        alice = None
        blocks = re.findall(r"```sh\n(.*?)```", tour_section(readme), flags=re.S)
        assert len(blocks) == 2, "the tour has two sh blocks: before and after the feature is turned on"
        second_block = {split_comment(line)[0] for line in blocks[1].splitlines()}
        for command, comment in commands[2:]:
            if command in second_block and alice is None:
                # "Sign in as alice ..., turn Camera Roll Sharing Suggestions on, and Group photos by people too"
                alice = Alice(url, password)
                assert alice.media_count() == 0  # the first run uploaded nothing
                alice.turn_on("camera_roll_cloud_processing")
                alice.turn_on("face_analysis")
            words = as_run(command)
            if command.startswith("consentsvc-sync run") and "--once" not in command:
                assert "until Ctrl-C" in comment
                with open(watch_log, "w") as out:
                    watching = subprocess.Popen(["bash", "-c", f"exec {words}"], cwd=clone, env=phone_env,
                                                stdout=out, stderr=subprocess.STDOUT, text=True)

                def watcher_alive(process=watching):
                    assert process.poll() is None, watch_log.read_text()

                wait_for(f"{DEMO_PHOTOS} photos uploaded", lambda holder=alice: holder.media_count() == DEMO_PHOTOS,
                         300, alive=watcher_alive)
                continue
            done = subprocess.run(["bash", "-c", words], cwd=clone, env=phone_env, capture_output=True, text=True,
                                  timeout=300, check=False)
            assert done.returncode == expected_exit(comment), (command, done.returncode, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr, done.stderr
            if command.startswith("cp "):
                assert len(list(roll.rglob("*.jpg"))) == DEMO_PHOTOS
            if "--once" in command:
                assert "Camera Roll Sharing Suggestions is off" in done.stdout  # "says the feature is off"
            if command.startswith("consentsvc-sync status"):
                assert "Camera Roll Sharing Suggestions: on" in done.stdout, done.stdout
        assert watching is not None and alice is not None

        # "About a minute after the last upload": the trip, its recap, styles and the two people.
        wanted = {("collage", "Lisbon, 3 days"), ("recap", "Lisbon, 3 days, the highlights"), ("collage", "Together")}
        styled = ("Lisbon, 3 days, ", "Saturday in Arezzo, 3 May, ")  # the style is each moment's own

        def first_pass():
            titles = alice.titles()
            stylized = [title for kind, title in titles if kind == "stylized"]
            return wanted <= titles and all(any(t.startswith(start) for t in stylized) for start in styled)

        wait_for("the first suggestions", first_pass, SUGGESTIONS_SECONDS, every=3, alive=server_alive,
                 show=alice.titles)
        prose = " ".join(tour_section(readme).split())
        for title in ("Lisbon, 3 days", "Lisbon, 3 days, the highlights", "Saturday in Arezzo, 3 May", "Together",
                      "Ana and Ben in Lisbon", "You uploaded 16 photos from the phone app"):
            assert title in prose, f"the README no longer says {title!r}: change this test with it"
        page = alice.web.get("/suggestions/").text
        assert "<video" in page  # the recap plays in the page
        assert re.search(r"You uploaded 16 photos from the phone app on ", alice.web.get("/me/access/").text)

        # "name the two people at /people/ (Ana and Ben), and press Make suggestions now".
        people = alice.api.get("/people/").json()["results"]
        assert len(people) == 2 and all(len(p["item_ids"]) == 4 for p in people), people
        for person, name in zip(people, ("Ana", "Ben"), strict=True):
            assert alice.api.patch(f"/people/{person['id']}/", json={"name": name}).status_code == 200
        assert alice.web.get(f"/people/{people[0]['id']}/").status_code == 200
        job = alice.api.post("/suggestions/generate/")
        assert job.status_code == 202, job.text
        after = {("collage", "Ana and Ben in Lisbon"), ("recap", "Ana and Ben in Lisbon, the highlights"),
                 ("collage", "Saturday in Arezzo, 3 May")}
        wait_for("the suggestions with people", lambda: after <= alice.titles(), SUGGESTIONS_SECONDS, every=3,
                 alive=server_alive, show=alice.titles)
        assert any(k == "stylized" and t.startswith("Ana and Ben in Lisbon, ") for k, t in alice.titles())

        # "Share one": the recipient's page shows the title.
        trip = next(s for s in alice.suggestions() if s["title"] == "Lisbon, 3 days")
        link = alice.api.post(f"/suggestions/{trip['id']}/share-links/", json={"display_name": "Alice"})
        assert link.status_code == 201, link.text
        shared = httpx.get(link.json()["url"], timeout=30)
        assert shared.status_code == 200 and "Lisbon, 3 days" in shared.text

        # "Now turn the toggle off": the watching phone says so and keeps watching; Ctrl-C ends it with 0.
        assert alice.api.put("/consent/face_analysis/", json={"granted": False}).status_code == 200
        assert alice.api.put("/consent/camera_roll_cloud_processing/", json={"granted": False}).status_code == 200
        wait_for("the phone to see the feature off",
                 lambda: "Camera Roll Sharing Suggestions is off: uploading stopped" in watch_log.read_text(), 120,
                 alive=watcher_alive)
        watching.send_signal(signal.SIGINT)
        watching.wait(timeout=60)
        out = watch_log.read_text()
        assert watching.returncode == 0, out
        assert "Watching" in out and "Traceback" not in out
        watching = None
    finally:
        if watching is not None:
            watching.kill()
            watching.wait()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    # Nothing was written into the repository: no change, and no new file git would see.
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout
    assert status == "", status
    assert shlex.split(commands[2][0])[:3] == ["cp", "-Rp", "tests/fixtures/demo"]
