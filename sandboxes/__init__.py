"""Fake external services on loopback: Fathom, Google Calendar and Microsoft Graph, Attendee, and an
OpenAI-compatible AI provider.

Each is a real HTTP server on 127.0.0.1 (the shared plumbing is `loopback.py`) that speaks the
documented API (docs/fathom-api.md, docs/calendar-apis.md, docs/attendee-api.md), so the tests, the
benchmarks in bench/ and the offline demo exercise CallVault's clients over real sockets, with
faults injected on demand.

| module | fakes |
| --- | --- |
| `loopback` | the server, request log and fault injection the others share |
| `fathom` | Fathom's External API, its OAuth and its signed webhooks |
| `fathom_demo` | `FATHOM_SANDBOX=1` (`make run`): a Fathom sandbox in the app's process for the demo account |
| `calendars` | Google Calendar and Microsoft Graph, with their OAuth endpoints and push notifications |
| `attendee` | Attendee's recording-bot API and its signed webhooks |
| `ai_provider` | an OpenAI-compatible API: embeddings and chat completions |

The product never imports this package, except in sandbox mode: `create_app` (callvault/__init__.py)
imports `fathom_demo` only when `FATHOM_SANDBOX` is set (development only). A sandbox may import
small helpers of callvault; callvault's modules never import a sandbox.
"""
