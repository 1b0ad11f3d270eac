"""An MCP server (Streamable HTTP transport) on AWS Lambda, guarded by secauth.

One endpoint, ``POST /mcp``, takes JSON-RPC 2.0 messages and answers each request with one
JSON response (``initialize``, ``ping``, ``tools/list``, ``tools/call``; notifications get
202 and no body). ``GET /mcp`` (a server-sent event stream) is not offered: 405. Written
by hand, with no MCP SDK, to show what the authorization part asks of a server:

* ``GET /.well-known/oauth-protected-resource/mcp`` (and ``/.well-known/oauth-protected-resource``)
  serve the RFC 9728 metadata: the resource URI and the authorization server;
* a request without a valid token gets 401 with
  ``WWW-Authenticate: Bearer resource_metadata="...", scope="mcp.tools"``; a token without
  the scope gets 403 ``insufficient_scope``;
* a token is accepted only when its ``aud`` is this server's resource URI (RFC 8707).

Configuration (environment variables):

``MCP_RESOURCE``
    The server's resource URI, as clients reach it: ``https://mcp.example.com/mcp``.
``MCP_AUTHORIZATION_SERVER``
    The issuer that grants tokens for it (its discovery document gives the keys).
``MCP_ALLOWED_ORIGINS``
    Comma-separated browser origins allowed to call (others: 403, against DNS rebinding).
``MCP_ALLOW_HTTP``
    ``1`` accepts ``http`` loopback URLs: local tests only.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from secauth import Guard, JwtVerifier, Routes, scopes
from secauth.principal import Principal
from secauth.protected_resource import ProtectedResource

PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
SCOPE = "mcp.tools"

ALLOW_HTTP = os.environ.get("MCP_ALLOW_HTTP") == "1"
RESOURCE = ProtectedResource(
    resource=os.environ["MCP_RESOURCE"],
    authorization_servers=[os.environ["MCP_AUTHORIZATION_SERVER"]],
    scopes_supported=[SCOPE],
    resource_name="secauth example MCP server",
    allow_http=ALLOW_HTTP,
)
ALLOWED_ORIGINS = frozenset(o for o in os.environ.get("MCP_ALLOWED_ORIGINS", "").split(",") if o)

guard = Guard(
    # RFC 8707: only tokens whose aud is this server's resource URI, compared exactly.
    JwtVerifier.from_discovery(
        RESOURCE.authorization_servers[0], audience=RESOURCE.resource, allow_http=ALLOW_HTTP
    ),
    routes=Routes({"POST /mcp": scopes(SCOPE)}),
    protected_resource=RESOURCE,
    content_types=("application/json",),
    max_body_bytes=64 * 1024,
)

TOOLS: list[dict[str, Any]] = [
    {
        "name": "add",
        "description": "Add two numbers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
    {
        "name": "whoami",
        "description": "The caller, as the server sees it.",
        "inputSchema": {"type": "object", "properties": {}},
    },
]


class RpcError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@guard
def handler(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    origin = headers.get("origin")
    if origin is not None and origin not in ALLOWED_ORIGINS:
        return _http(403, {"error": "origin not allowed"})
    version = headers.get("mcp-protocol-version")
    if version is not None and version not in PROTOCOL_VERSIONS:
        return _http(400, {"error": f"unsupported MCP-Protocol-Version {version}"})
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    try:
        message = json.loads(body)
    except ValueError:
        return _http(400, _error(None, RpcError(-32700, "parse error")))
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return _http(400, _error(None, RpcError(-32600, "invalid request")))
    if "id" not in message:  # a notification (or a response): accepted, no answer
        return {"statusCode": 202, "body": ""}
    try:
        result = _call(str(message.get("method")), message.get("params") or {}, principal)
    except RpcError as error:
        return _http(200, _error(message["id"], error))
    return _http(200, {"jsonrpc": "2.0", "id": message["id"], "result": result})


def _call(method: str, params: dict[str, Any], principal: Principal) -> dict[str, Any]:
    if method == "initialize":
        asked = params.get("protocolVersion")
        return {
            "protocolVersion": asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0],
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "secauth-example", "version": "1.0.0"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        return _tool(params.get("name"), params.get("arguments") or {}, principal)
    raise RpcError(-32601, f"method not found: {method}")


def _tool(name: object, arguments: dict[str, Any], principal: Principal) -> dict[str, Any]:
    if name == "add":
        a, b = arguments.get("a"), arguments.get("b")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
            raise RpcError(-32602, "add takes numbers a and b")
        return _text(str(a + b))  # type: ignore[operator]
    if name == "whoami":
        return _text(principal.id)
    raise RpcError(-32602, f"unknown tool: {name}")


def _text(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": False}


def _error(id_: object, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": error.code, "message": error.message}}


def _http(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }
