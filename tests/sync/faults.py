"""A loopback HTTP proxy in front of the live server that answers the first matching requests with
errors (429 with Retry-After, 503), as a busy server or load balancer would, then passes through."""

import http.client
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.sync.loopback import LoopbackServer


class FaultyProxy(LoopbackServer):
    def __init__(self, upstream: str, *, path: str, method: str, faults: list[tuple[int, dict]]):
        self.upstream = urlsplit(upstream)
        self.path = path
        self.method = method
        self.faults = list(faults)
        self.faulted = 0
        self.in_flight = 0
        self.most_in_flight = 0  # the most matching requests open at once
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                matching = self.command == proxy.method and self.path == proxy.path
                left = False

                def leave():
                    # Counted as closed before the answer is written: once the client has the
                    # answer it may open its next request before this thread gets to run again.
                    nonlocal left
                    if matching and not left:
                        left = True
                        proxy._leave()

                if matching:
                    proxy._enter()
                try:
                    self._forward(leave)
                finally:
                    leave()

            def _forward(self, leave):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy._next_fault(self.command, self.path)
                if fault is not None:
                    status, headers = fault
                    leave()
                    payload = b'{"error": {"code": "throttled", "message": "Slow down."}}'
                    self.send_response(status)
                    for name, value in {**headers, "Content-Type": "application/json",
                                        "Content-Length": str(len(payload))}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                leave()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

        self._serve(Handler)

    def _enter(self):
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _leave(self):
        with self._lock:
            self.in_flight -= 1

    def _next_fault(self, method: str, path: str):
        with self._lock:
            if method == self.method and path == self.path and self.faults:
                self.faulted += 1
                return self.faults.pop(0)
        return None
