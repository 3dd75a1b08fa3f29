"""The same code as several processes: two web processes and two workers (which also run the periodic jobs) of the
Procfile, on PostgreSQL, Redis and an S3 server over HTTP, driven through the HTTP API only."""

import datetime as dt
import io
import os
import re
import signal
import socket
import time
import zipfile

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts import services as accounts_services
from tests.conftest import PASSWORD
from tests.scale.conftest import Process
from tests.suggestions.conftest import COLOURS, SATURDAY, photo
from tests.suggestions.factories import LISBON
from vault.models import AccountKey

pytestmark = [pytest.mark.scale]

API = "/api/v1"
CAMERA_ROLL = "camera_roll_cloud_processing"


class Holder:
    """One holder speaking to whichever web process it is given."""

    def __init__(self, cluster, username: str):
        self.cluster = cluster
        self.user = accounts_services.user_create(username=username, password=PASSWORD)
        # Hashed as the production settings of the web processes expect (tests hash with MD5).
        self.user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
        self.user.save(update_fields=["password"])
        response = requests.post(f"{cluster.urls['web1']}{API}/auth/token/",
                                 json={"username": username, "password": PASSWORD}, timeout=30)
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Token {response.json()['token']}"}

    def call(self, web: str, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.cluster.urls[web]}{API}{path}", headers=self.headers,
                                timeout=60, **kwargs)

    def consent(self, web: str, purpose: str, granted: bool) -> None:
        body = {"granted": granted}
        if granted:
            body["notice_version"] = self.call(web, "GET", f"/consent/notices/{purpose}/").json()["version"]
        response = self.call(web, "PUT", f"/consent/{purpose}/", json=body)
        assert response.status_code == 200, response.text

    def upload(self, web: str, data: bytes) -> dict:
        response = self.call(web, "POST", "/media/", files={"file": ("photo.jpg", data, "image/jpeg")},
                             data={"labels": "[]"})
        assert response.status_code == 201, response.text
        return response.json()

    def objects(self) -> list[str]:
        uid = self.user.pk
        return self.cluster.s3.keys(self.cluster.bucket, f"blobs/vault/{uid}/") + self.cluster.s3.keys(
            self.cluster.bucket, f"blobs/exports/{uid}/")


def ran_on(cluster, task: str) -> list[str]:
    """The workers whose log says they finished a task of this name."""
    done = re.compile(rf"Successfully completed {re.escape(task)}\(")
    return [name for name, process in cluster.processes.items()
            if name.startswith("worker") and done.search(process.output())]


def test_a_holders_whole_story_across_web_processes_and_workers(cluster, tmp_path):
    holder = Holder(cluster, "holly")
    holder.consent("web1", CAMERA_ROLL, True)
    for n, colour in enumerate(COLOURS[:4]):
        holder.upload("web1", photo(colour, when=SATURDAY + dt.timedelta(minutes=20 * n), where=LISBON, mark=n + 1))
    assert len(holder.objects()) == 8  # four originals, four thumbnails, all in the bucket

    # A suggestion pass asked for through the other web process, made by a worker.
    response = holder.call("web2", "POST", "/suggestions/generate/")
    assert response.status_code == 202, response.text
    job_id = response.json()["job"]
    job = cluster.wait_until("the suggestion job", lambda: (
        body if (body := holder.call("web2", "GET", f"/suggestions/jobs/{job_id}/").json())["status"]
        not in {"queued", "running"} else None), timeout=120)
    assert job["status"] == "done" and job["created"] >= 1, job
    cluster.wait_until("a worker to log the pass", lambda: ran_on(cluster, "suggestions.jobs.run_job"), timeout=30)
    listed = holder.call("web2", "GET", "/suggestions/").json()
    suggestions = listed["results"] if isinstance(listed, dict) else listed
    assert len(suggestions) == job["created"]
    output = holder.call("web2", "GET", f"/suggestions/{suggestions[0]['id']}/content/")
    assert output.status_code == 200 and output.headers["Content-Type"].startswith("image/")
    assert len(holder.objects()) == 8 + job["created"]

    # A data export built by a worker, downloaded through the first web process.
    response = holder.call("web2", "POST", "/me/export/")
    assert response.status_code in (200, 201, 202), response.text
    export_id = response.json()["id"]
    download = cluster.wait_until("the export", lambda: (
        r if (r := holder.call("web1", "GET", f"/me/export/{export_id}/")).status_code != 202 else None), timeout=120)
    assert download.status_code == 200, download.text
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
    assert sum(name.endswith(".jpg") for name in names) >= 4, names
    cluster.wait_until("a worker to log the export", lambda: ran_on(cluster, "support.rights.export_build_job"),
                       timeout=30)
    assert any(key.startswith(f"blobs/exports/{holder.user.pk}/") for key in holder.objects())

    # Withdrawal through the second web process: the bucket, the database and the trail.
    holder.consent("web2", CAMERA_ROLL, False)
    cluster.wait_until("the holder's objects to go", lambda: holder.objects() == [], timeout=60)
    assert not AccountKey.objects.filter(user_id=holder.user.pk).exists()
    verified = cluster.manage("audit_verify", var_dir=tmp_path / "var-verify")
    assert verified.returncode == 0 and "OK" in verified.stdout, verified.stdout + verified.stderr


def test_a_web_process_that_dies_mid_upload_stores_nothing_and_comes_back(cluster, tmp_path):
    holder = Holder(cluster, "harry")
    holder.consent("web1", CAMERA_ROLL, True)
    holder.upload("web2", photo(COLOURS[0], when=SATURDAY, where=LISBON, size=(320, 240)))
    before = holder.objects()
    assert len(before) == 2

    big = photo(COLOURS[1], when=SATURDAY, where=LISBON, size=(2400, 1800), mark=3) + os.urandom(2_000_000)
    boundary = "scale-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()
    host, port = cluster.urls["web1"].removeprefix("http://").split(":")
    head = (f"POST {API}/media/ HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: {holder.headers['Authorization']}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)
        cluster.processes["web1"].stop(signal.SIGKILL)  # the web process dies with half the photo received
        try:
            sock.sendall(body[len(body) // 2:])
            answer = sock.recv(65536)
        except OSError:
            pass
    assert not answer.startswith(b"HTTP/1.1 201"), answer[:200]

    restarted = Process("web1", cluster.processes["web1"].command, cluster.processes["web1"].env,
                        tmp_path / "web1-restarted.log").start()
    cluster.processes["web1-restarted"] = restarted
    cluster.wait_until("web1 to come back", lambda: cluster.web_up("web1"), timeout=90)
    items = holder.call("web1", "GET", "/media/").json()
    assert len(items["results"] if isinstance(items, dict) else items) == 1
    assert holder.objects() == before
    assert cluster.s3.uploads_in_progress(cluster.bucket) == []
    # ...and the restarted process takes the same upload whole.
    holder.upload("web1", big)
    assert len(holder.objects()) == 4


def test_a_worker_killed_mid_pass_leaves_the_job_to_the_other(cluster, tmp_path):
    worker1, worker2 = cluster.processes["worker1"], cluster.processes["worker2"]
    worker2.stop()  # so that the pass lands on worker1; worker2 comes back while it runs
    holder = Holder(cluster, "kim")
    holder.consent("web1", CAMERA_ROLL, True)
    for n, colour in enumerate(COLOURS):
        holder.upload("web1", photo(colour, when=SATURDAY + dt.timedelta(minutes=15 * n), where=LISBON,
                                    size=(1600, 1200), mark=n + 1))
    job_id = holder.call("web2", "POST", "/suggestions/generate/").json()["job"]

    def status():
        return holder.call("web2", "GET", f"/suggestions/jobs/{job_id}/").json()["status"]

    cluster.wait_until("the pass to start on worker1", lambda: status() != "queued", timeout=120, every=0.05)
    worker1.signal_group(signal.SIGSTOP)  # held mid-pass (its lease's heartbeat stops too)...
    assert status() == "running", "the pass finished before it could be interrupted"
    again = Process("worker2", worker2.command, worker2.env, tmp_path / "worker2-again.log").start()
    cluster.processes["worker2-again"] = again
    cluster.wait_until("worker2 to be ready", lambda: "Listening on" in again.output(), timeout=90)
    worker1.stop(signal.SIGKILL)  # ...and killed: the pass is neither finished nor released

    cluster.wait_until("the pass to be run again and finish", lambda: status() not in {"queued", "running"},
                       timeout=240)
    job = holder.call("web2", "GET", f"/suggestions/jobs/{job_id}/").json()
    assert job["status"] == "done", job
    cluster.wait_until("worker2 to log the pass", lambda: re.search(
        r"Successfully completed suggestions\.jobs\.run_job\(", again.output()), timeout=30)
    listed = holder.call("web1", "GET", "/suggestions/").json()
    assert listed["results"] if isinstance(listed, dict) else listed
