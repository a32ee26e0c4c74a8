"""The loopback HTTP plumbing shared by the fake services (tests and the offline demo).

fathom.py, calendars.py, attendee.py and ai_provider.py (beside this module) each fake one external
API over real sockets. What they have in common lives here, once: a threaded server on loopback
started and stopped with the sandbox, the request log, injected faults (an HTTP status, a slow
answer before or after the work is done, a dropped connection) and the way each request is read,
routed, logged and answered. A sandbox subclasses `LoopbackSandbox` and implements
`_route(handler, entry, query, body) -> (status, payload, headers)`, raising `ApiError` to answer
an error. A payload of None is an empty body, a str is HTML, anything else is JSON.

Only the standard library is used, so no Flask app is imported.
"""
from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class ApiError(Exception):
    """Raised inside a route: answer `status` with `body` (and `headers`)."""

    def __init__(self, status: int, body, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass
class Fault:
    kind: str  # status | slow | slow_after | drop
    path_prefix: str | None = None
    method: str | None = None
    status: int = 503
    seconds: float = 0.0
    headers: dict | None = None


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the sandbox behind the server."""

    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse sessions
    timeout = 30  # drop idle keep-alive connections eventually

    def do_GET(self):
        self.server.sandbox._handle(self)

    do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    def log_message(self, format, *args):
        """Quiet: the sandbox keeps its own requests_log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent test clients must not be refused
    sandbox: "LoopbackSandbox"

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # a client that went away is no sandbox bug
            self.sandbox.server_errors.append(traceback.format_exc())


class LoopbackSandbox:
    thread_name = "sandbox"
    handler_class = Handler
    json_content_type = "application/json"
    keep_blank_values = False  # of the query string, as parse_qs takes it
    bug_body = {"error": "sandbox bug"}  # the 500 answered when a route raised something unexpected

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.requests_log: list[dict] = []
        self.server_errors: list[str] = []  # tracebacks of sandbox bugs (answered 500)
        self.on_request = None  # a test's hook, called with each request's log entry before it is answered
        self._lock = threading.RLock()
        self._faults: deque[Fault] = deque()
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self):
        server = _Server((self._host, self._port), self.handler_class)
        server.sandbox = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _server_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- faults and observation ----------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503, path_prefix: str | None = None, method: str | None = None,
                  headers: dict | None = None) -> None:
        """Answer the next requests with `status` (and `headers`, e.g. Retry-After)."""
        self._add_faults(n, Fault("status", path_prefix, method, status=status, headers=headers))

    def slow_next(self, n: int = 1, seconds: float = 1.0, path_prefix: str | None = None, method: str | None = None,
                  after_work: bool = False) -> None:
        """Answer the next requests only after `seconds` (a client with a shorter timeout gives up);
        with `after_work` the request takes effect first (a lost answer)."""
        self._add_faults(n, Fault("slow_after" if after_work else "slow", path_prefix, method, seconds=seconds))

    def drop_next(self, n: int = 1, path_prefix: str | None = None, method: str | None = None) -> None:
        """Close the next connections without answering (a network failure)."""
        self._add_faults(n, Fault("drop", path_prefix, method))

    def _add_faults(self, n: int, fault: Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in list(self._faults):
                if (fault.path_prefix is None or path.startswith(fault.path_prefix)) and \
                        (fault.method is None or fault.method == method):
                    self._faults.remove(fault)
                    return fault
        return None

    def _logged(self, method: str | None = None, path_prefix: str | None = None, status=None) -> list[dict]:
        """The logged requests matching every filter given."""
        with self._lock:
            return [e for e in self.requests_log if (method is None or e["method"] == method)
                    and (path_prefix is None or e["path"].startswith(path_prefix))
                    and (status is None or e["status"] == status)]

    # -- request handling ----------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        entry = self._new_entry(handler, parts, body)
        fault = self._take_fault(handler.command, parts.path)
        if fault is not None and fault.kind == "drop":
            entry["status"] = "dropped"
            with self._lock:
                self.requests_log.append(entry)
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if self.on_request is not None:
            self.on_request(entry)
        try:
            if fault is not None and fault.kind == "status":
                status, payload, headers = self._fault_response(handler, entry, fault)
            else:
                status, payload, headers = self._route(handler, entry, {k: v[-1] for k, v in entry["query"].items()},
                                                       body)
        except ApiError as exc:
            status, payload, headers = exc.status, exc.body, exc.headers
        except Exception:
            with self._lock:
                self.server_errors.append(traceback.format_exc())
            status, payload, headers = 500, self.bug_body, {}
        entry["status"] = status
        with self._lock:
            self.requests_log.append(entry)
        if fault is not None and fault.kind == "slow_after":
            time.sleep(fault.seconds)
        self._respond(handler, status, payload, headers)

    def _new_entry(self, handler, parts, body: bytes) -> dict:
        """The request's requests_log entry; `status` is filled in once it is answered."""
        return {"method": handler.command, "path": parts.path,
                "query": parse_qs(parts.query, keep_blank_values=self.keep_blank_values),
                "headers": dict(handler.headers), "body": body, "status": None, "at": time.time()}

    def _fault_response(self, handler, entry, fault: Fault):
        return fault.status, self._fault_body(fault.status), dict(fault.headers or {})

    def _fault_body(self, status: int):
        return {"error": "Internal server error"}

    def _route(self, handler, entry, query, body):
        raise NotImplementedError

    def _respond(self, handler, status, payload, headers) -> None:
        if payload is None:
            data, content_type = b"", None
        elif isinstance(payload, str):
            data, content_type = payload.encode(), "text/html; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode(), self.json_content_type
        try:
            handler.send_response(status)
            if content_type:
                handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)
