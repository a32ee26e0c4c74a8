"""`flask mcp serve --user EMAIL`: the MCP server on stdio, acting as that user (for desktop assistants).

Standard output carries the protocol only: CallVault's logs go to standard error (logs.py), and a
bad line from the client is answered as a protocol error by the SDK without ending the server.
"""
import anyio
import click
from flask import current_app
from flask.cli import AppGroup

from .. import accounts
from ..cli_support import clear_errors

mcp = AppGroup("mcp", help="The MCP server for AI assistants.")


@mcp.command("serve")
@click.option("--user", "email", required=True, help="The account whose meetings the assistant may see.")
@clear_errors(accounts.AccountError)
def serve(email):
    """Speak MCP on stdin/stdout as USER (point a desktop assistant's MCP configuration at this command)."""
    user = accounts.find_user(email)
    if not user.is_active:
        raise click.ClickException(f"{user.email} is deactivated")
    user_id = user.id
    from .server import build_server  # the SDK loads only for this command
    server = build_server(current_app._get_current_object(), lambda: user_id)
    anyio.run(server.run_stdio_async)
