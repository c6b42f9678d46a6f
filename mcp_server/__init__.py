"""The analytics tools over the Model Context Protocol (Claude Desktop, IDEs, agents): the same
registry, validation, pseudonymous ids and privacy as Slack, read-only. `server.build_server` makes
the MCP server; `stdio.serve_stdio` runs it for `python app.py mcp`; `http.mcp_http` mounts it at
/mcp in `serve` behind a bearer token and a rate limit. Only the composition root imports this."""
