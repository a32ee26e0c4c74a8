"""Fathom: the client against the sandbox, sync (CLI and web), OAuth and API-key connections, and the sandbox itself."""
