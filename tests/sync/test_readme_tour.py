"""The README's tour, run as written: every `cp` and `consentsvc-sync` line of "Try the whole feature"
in order, against a live server standing in for `bin/serve` (the one web step, turning the feature
on, is done through the consent service). The phone's first run says the feature is off and exits 3;
the watching run uploads and ends on Ctrl-C with 0; nothing is written into the repository."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.sync.conftest import grant
from vault.models import MediaItem

REPO = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def tour_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Try the whole feature", 1)[1].split("### The sync client", 1)[0]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command:
                lines.append(command)
    return lines


def git_status(path: str) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", path], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout


def test_the_readme_tour_runs_as_written(live_server, alice, tmp_path):
    commands = tour_commands()
    assert commands[:2] == ["bin/serve", "source .venv/bin/activate"]  # the live server and this venv stand in
    roll = tmp_path / "camera-roll"
    env = {**os.environ, "CONSENTSVC_PASSWORD": PASSWORD, "CONSENTSVC_SYNC_CONFIG": str(tmp_path / "config.json"),
           "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith("DJANGO")}
    before = git_status("tests/fixtures")

    def as_run(command: str) -> list[str]:
        command = command.replace("http://127.0.0.1:8000", live_server.url).replace("/tmp/camera-roll", str(roll))
        words = shlex.split(command)
        if words[0] == "consentsvc-sync":  # the same command (README), from this checkout
            words = [sys.executable, "-m", "camera_roll_sync", *words[1:]]
        return words

    runs = [c for c in commands[2:] if c.startswith("consentsvc-sync run")]
    assert len(runs) == 2 and "--once" in runs[0] and "--once" not in runs[1]
    for command in commands[2:]:
        words = as_run(command)
        if command == runs[1]:
            grant(alice)  # "turn Camera Roll Sharing Suggestions on" on the settings page
            watching = subprocess.Popen(words, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
            deadline = time.monotonic() + 120
            expected = sum(1 for path in roll.rglob("*.jpg"))
            while MediaItem.objects.filter(owner=alice).count() < expected and time.monotonic() < deadline:
                assert watching.poll() is None, watching.communicate()
                time.sleep(0.5)
            time.sleep(1)
            watching.send_signal(signal.SIGINT)  # Ctrl-C
            out, err = watching.communicate(timeout=60)
            assert watching.returncode == 0, (out, err)
            assert "Watching" in out and "Traceback" not in err
            continue
        done = subprocess.run(words, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        if command == runs[0]:
            assert done.returncode == 3, (done.stdout, done.stderr)  # "exits 3"
            assert "Camera Roll Sharing Suggestions is off" in done.stdout
            assert MediaItem.objects.filter(owner=alice).count() == 0  # "uploads nothing"
        else:
            assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert MediaItem.objects.filter(owner=alice).count() > 0
    status = subprocess.run(as_run("consentsvc-sync status"), cwd=REPO, env=env, capture_output=True, text=True,
                            check=True).stdout
    assert "Camera Roll Sharing Suggestions: on" in status
    assert git_status("tests/fixtures") == before  # the tour wrote into a copy, never into the repository
