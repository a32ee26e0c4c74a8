"""The MCP server over Streamable HTTP inside the Flask/gunicorn web process, at POST /mcp.

`mount(app)` (create_app's configure_mcp step) wraps `app.wsgi_app`: `/mcp` and its RFC 9728
metadata go to the SDK's ASGI app, everything else to Flask, so the Procfile's gunicorn serves both.

- Stateless (no session kept between requests) with JSON answers, so any web dyno or worker
  answers any request; POST only (405 for GET's event stream and DELETE's session end).
- The SDK checks the bearer token through `TokenVerifier` (personal API tokens and OAuth access
  tokens, see oauth.verify_bearer), refuses tokens issued for another resource, answers 401 with
  `WWW-Authenticate: Bearer resource_metadata=…`, and serves the protected-resource metadata.
- The ASGI app runs on an event loop in a thread of its own, bridged by a2wsgi. a2wsgi runs no
  ASGI lifespan, and the SDK's session manager needs its lifespan entered once, so the bridge
  enters it itself, on first use in each process (lazily, under a lock; a forked worker gets its
  own loop, since threads do not survive a fork).
- Settings are read on first use, so PUBLIC_BASE_URL (the token audience, the allowed Host) is the
  app's configuration at that moment. The SDK (asgi.py) is imported then too, so processes that never
  serve /mcp (the worker, `flask` commands) do not load it.
"""
import asyncio
import os
import threading
import time
from urllib.parse import urlsplit

from ..logs import log_event
from .oauth import MCP_PATH

METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"


class _Bridge:
    """The ASGI app on its event loop thread, its lifespan entered and held open."""

    def __init__(self, asgi_app):
        from a2wsgi import ASGIMiddleware

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="mcp-event-loop", daemon=True).start()
        entered = threading.Event()
        self._held = asyncio.run_coroutine_threadsafe(self._hold_lifespan(asgi_app, entered), self.loop)
        if not entered.wait(30):
            raise RuntimeError("the MCP server did not start")
        self.wsgi = ASGIMiddleware(asgi_app, loop=self.loop)

    @staticmethod
    async def _hold_lifespan(asgi_app, entered: threading.Event):
        async with asgi_app.router.lifespan_context(asgi_app):
            entered.set()
            await asyncio.Event().wait()  # for the life of the process


class McpMount:
    """WSGI middleware: the MCP paths to the SDK's app (bridged), the rest to `wsgi_app` (Flask)."""

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        self._lock = threading.Lock()
        self._bridge: _Bridge | None = None
        self._pid: int | None = None

    def _current_bridge(self) -> _Bridge:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    from .asgi import build_asgi_app
                    self._bridge = _Bridge(build_asgi_app(self.app))
                    self._pid = os.getpid()
        return self._bridge

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in (MCP_PATH, METADATA_PATH):
            return self.wsgi_app(environ, start_response)
        if path == MCP_PATH and environ.get("REQUEST_METHOD") != "POST":
            # Stateless: no server-sent event stream to GET (it would hold a worker thread forever), no
            # session to DELETE.
            start_response("405 Method Not Allowed", [("Allow", "POST"), ("Content-Type", "application/json")])
            return [b'{"jsonrpc": "2.0", "id": null, "error": {"code": -32000, "message": "Method not allowed: '
                    b'this MCP server is stateless and answers POST only"}}']
        return self._logged(environ, start_response)

    def _logged(self, environ, start_response):
        """The bridged answer, logged like Flask's requests once its body has been sent."""
        started, seen = time.monotonic(), {}

        def logged_start_response(status, headers, exc_info=None):
            seen["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)
        body = self._current_bridge().wsgi(environ, logged_start_response)
        try:
            yield from body
        finally:
            if hasattr(body, "close"):
                body.close()
            log_event("request", method=environ.get("REQUEST_METHOD"), path=environ.get("PATH_INFO"),
                      status=seen.get("status"), ms=round((time.monotonic() - started) * 1000, 1))


def mount(app) -> None:
    app.wsgi_app = McpMount(app, app.wsgi_app)
