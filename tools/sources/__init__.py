"""Tool sources: tools registered at run time (MCP servers now; HTTP tools and packages later).

- ``mcp.py``: the MCP client (the ``mcp`` package) on this process's MCP loop
- ``services.py``: register, refresh, enable, publish, deprecate, retire, pin, set a policy
- ``selectors.py``: the catalogue of every tool, and the rows the API reads
- ``overlay.py``: the tools of the enabled sources and the policies, as the registry sees them,
  rebuilt when the registry version in the shared cache moves
"""
