"""MCP: AI assistants search and read the vault with the person's own permissions.

tools.py (what each tool answers, from the calls and search services), schemas.py (their output
schemas), server.py (the SDK's MCPServer with the tools), http.py (mounted at POST /mcp),
cli.py (`flask mcp serve` on stdio), oauth.py (the OAuth 2.1 authorization server's rules and storage).
"""
