"""A throwaway S3-compatible endpoint on loopback (moto's server), for tests and rehearsals.

    python tools/s3_server.py [--port 0] [--bucket NAME ...]

Serves the S3 protocol on 127.0.0.1 (port 0 picks a free one), creates the named
buckets, prints one line ``port=<port>`` once it answers, and runs until it is
terminated. Everything lives in this process's memory: stopping it empties every
bucket. Real deployments point VAULT_S3_* at AWS S3, MinIO, Ceph or similar instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create (repeatable)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started this one ends (tests)")
    args = parser.parse_args(argv)

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                          aws_access_key_id="rehearsal", aws_secret_access_key="rehearsal")  # noqa: S106
    for bucket in args.bucket:
        client.create_bucket(Bucket=bucket)
    print(f"port={port}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    while not stop.wait(1):
        if args.exit_with_parent and os.getppid() != parent:
            break
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
