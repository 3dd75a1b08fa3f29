"""An S3 endpoint over HTTP for tests: moto's server in its own process, one fresh bucket per test.

The server runs out of process so that what a test measures (memory, requests)
is the service's own, and so that other processes of a test can share it.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret"
REGION = "us-east-1"


@dataclass
class S3Endpoint:
    url: str
    process: subprocess.Popen

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The VAULT_S3_* variables that point a process of the service at ``bucket``."""
        return {"VAULT_S3_BUCKET": bucket, "VAULT_S3_PREFIX": prefix, "VAULT_S3_ENDPOINT_URL": self.url,
                "VAULT_S3_REGION": REGION, "VAULT_S3_ACCESS_KEY_ID": ACCESS_KEY,
                "VAULT_S3_SECRET_ACCESS_KEY": SECRET_KEY}

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", ()))

    def uploads_in_progress(self, bucket: str) -> list[str]:
        return [u["Key"] for u in self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", ())]


def start_server() -> S3Endpoint:
    process = subprocess.Popen([sys.executable, str(ROOT / "tools" / "s3_server.py"), "--exit-with-parent"],
                               cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    if not line.startswith("port="):
        process.kill()
        raise RuntimeError(f"the S3 server did not start: {line!r}")
    return S3Endpoint(url=f"http://127.0.0.1:{line.removeprefix('port=')}", process=process)


@pytest.fixture(scope="session")
def s3_server():
    endpoint = start_server()
    yield endpoint
    endpoint.process.terminate()
    endpoint.process.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_server, settings):
    """A new empty bucket, made the vault's blob storage for this test; returns its name."""
    bucket = f"vault-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": bucket, "location": "blobs", "endpoint_url": s3_server.url,
                        "region_name": REGION, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
                        "default_acl": None, "querystring_auth": True, "file_overwrite": False},
        },
    }
    return bucket
