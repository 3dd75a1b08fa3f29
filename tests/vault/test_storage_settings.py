"""Storage is configured from the environment: local files by default, S3 when a bucket is named."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.storage import storages
from vault import storage
s = storage.blob_storage()
print(json.dumps({"backend": settings.STORAGES["default"]["BACKEND"], "class": type(s).__name__,
                  "bucket": getattr(s, "bucket_name", None), "location": getattr(s, "location", None),
                  "endpoint": getattr(s, "endpoint_url", None), "overwrite": getattr(s, "file_overwrite", None)}))
"""


def probe(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_S3_")}
    clean.update(DJANGO_ENV="test", VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="consentsvc.settings", **env)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_it_stores_blobs_on_local_disk_by_default_and_on_s3_when_configured(tmp_path):
    local = probe(tmp_path)
    assert local["class"] == "FileSystemStorage"
    assert local["location"] == str(tmp_path / "blobs")
    s3 = probe(tmp_path, VAULT_S3_BUCKET="consentsvc-blobs", VAULT_S3_PREFIX="prod",
               VAULT_S3_ENDPOINT_URL="http://127.0.0.1:9000", VAULT_S3_ACCESS_KEY_ID="id",
               VAULT_S3_SECRET_ACCESS_KEY="secret")
    assert (s3["class"], s3["bucket"], s3["location"]) == ("S3Storage", "consentsvc-blobs", "prod")
    assert s3["endpoint"] == "http://127.0.0.1:9000" and s3["overwrite"] is False
