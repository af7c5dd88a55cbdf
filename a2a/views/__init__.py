"""HTTP bindings of A2A: JSON-RPC (views/jsonrpc.py), HTTP+JSON (views/rest.py), the card."""
