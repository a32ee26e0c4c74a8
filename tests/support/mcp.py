"""Talking to CallVault's MCP server with the official SDK's client, over HTTP (a live server) or stdio."""
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def http_client(url: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(streamable_http_client(url + "/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=30)))


def run_async(main):
    """`anyio.run(main)` in a thread of its own: the main thread may already run an event loop (Playwright's
    sync API keeps one there once a browser test has run)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, main).result()


def with_client(client_factory, work):
    """Run `await work(client)` in a fresh event loop with a connected client; return its result."""
    async def main():
        async with client_factory() as client:
            return await work(client)
    return run_async(main)


def over_http(url: str, token: str | None, work):
    return with_client(lambda: http_client(url, token), work)


def store_call(app, owner_id: int, lines: list[str] | None = None, action_items=(), **kwargs) -> int:
    """A call like tests.support.calls.sample_call, with these transcript lines (5 s apart, two speakers)."""
    from callvault.calls.store import ActionItemData, SegmentData, upsert_call
    from callvault.extensions import db
    from callvault.models import User
    from tests.support.calls import sample_call

    data = sample_call(**kwargs)
    if lines is not None:
        data.segments = [SegmentData(speaker=("Max Member", "Guest Person")[i % 2], text=text, start_ms=i * 5000)
                         for i, text in enumerate(lines)]
    data.action_items = [ActionItemData(**item) for item in action_items]
    with app.app_context():
        return upsert_call(db.session.get(User, owner_id), data).call.id
