"""Test doubles for the output hub: a throwaway PostgreSQL database and a webhook receiver.

The receiver is a real HTTP server on loopback (the sandboxes' plumbing, sandboxes/loopback.py)
that checks every request with the standardwebhooks package, the way a downstream automation would.
"""
import os
import threading
import uuid

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sandboxes.loopback import ApiError, LoopbackSandbox

# The hub database is created on the test PostgreSQL server (TEST_DATABASE_URL's), else on the local one.
HUB_SERVER_URL = os.environ.get("TEST_HUB_SERVER_URL") or (
    os.environ["TEST_DATABASE_URL"].rsplit("/", 1)[0] + "/postgres" if os.environ.get("TEST_DATABASE_URL")
    else "postgresql://postgres@127.0.0.1:5432/postgres")
WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 of 24 bytes


def create_hub_database():
    """(url, drop) for a fresh database on the test PostgreSQL server, or skip/fail if there is none."""
    name = f"callvault_hub_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(HUB_SERVER_URL, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        reason = f"output-hub tests need a PostgreSQL server at {HUB_SERVER_URL}: {str(exc).strip()}"
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail(reason)
        pytest.skip(reason)
    url = HUB_SERVER_URL.rsplit("/", 1)[0] + "/" + name

    def drop():
        from callvault.exports import hub
        hub.dispose_engines()
        with psycopg.connect(HUB_SERVER_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return url, drop


def hub_rows(url: str, sql: str, *params):
    with psycopg.connect(url) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def reset_hub(url: str) -> None:
    from callvault.exports import hub
    hub.dispose_engines()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS meeting_transcripts, meetings")


class Receiver(LoopbackSandbox):
    """Answers with the queued statuses (then 200) and keeps every verified message. `on_message`, if
    set, is called with each verified message before the answer (as a downstream system would act)."""

    def __init__(self, secret: str = WEBHOOK_SECRET):
        super().__init__()
        self.verifier = Webhook(secret)
        self.on_message = None
        self.statuses: list[int] = []
        self.messages: list[dict] = []   # verified: {"id", "type", "data"}
        self.rejected: list[str] = []    # why a request failed verification

    @property
    def url(self) -> str:
        return self._server_url() + "/hooks/callvault"

    def _route(self, handler, entry, query, body):
        try:
            payload = self.verifier.verify(body, dict(handler.headers))
        except WebhookVerificationError as exc:
            with self._lock:
                self.rejected.append(str(exc))
            raise ApiError(401, None) from None
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
            message = {"id": handler.headers["webhook-id"], "type": payload["type"], "data": payload["data"],
                       "status": status, "path": handler.path}
            self.messages.append(message)
            if self.on_message:
                self.on_message(message)
        return status, {"ok": status < 300}, {}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """A PostgreSQL URL nothing listens on: the hub is down."""
    return f"postgresql://postgres@127.0.0.1:{closed_port()}/callvault_hub_down"


class HubProxy:
    """A TCP relay in front of a real server (the hub's PostgreSQL, or Redis), so it can go down and come
    back at the same address: `down()` cuts every open connection and stops listening (new connections
    are refused, as when the server is down), `up()` listens on the same port and relays again."""

    def __init__(self, server_url: str):
        from urllib.parse import urlsplit
        parts = urlsplit(server_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.server_url = server_url
        self.lock = threading.Lock()
        self.open: list = []
        self.listener = None
        self.port = 0

    def url_for(self, hub_url: str) -> str:
        """`hub_url` (a database on the real server) reached through this relay."""
        from urllib.parse import urlsplit, urlunsplit
        parts = urlsplit(hub_url)
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{self.port}"))

    def _accept(self, listener):
        import socket
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped listening
            with self.lock:
                if listener is not self.listener:  # went down meanwhile
                    client.close()
                    return
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def up(self):
        import socket
        with self.lock:
            if self.listener is None:
                self.listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: same port again
                self.port = self.listener.getsockname()[1]
                threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self):
        import socket
        with self.lock:
            listener, self.listener = self.listener, None
            for sock in ([listener] if listener else []) + self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # also wakes the thread blocked in accept()
                except OSError:
                    pass
                sock.close()
            self.open.clear()

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()
