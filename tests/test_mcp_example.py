"""The MCP server example (``examples/mcp-server/``), driven as an MCP client drives it.

The example's handler runs behind a small Function URL stand-in on loopback (each HTTP
request becomes a Function URL event, the handler's answer the HTTP response), and a
:class:`~secauth.testing.LocalIssuer` is the authorization server. The client starts with
nothing but the server's URL: a call without a token gets 401 and the metadata URL, the
metadata names the authorization server, its discovery document is read, and a token for
the resource (``aud``) is minted there; then the MCP calls succeed. A token for another
resource is refused with 401, one without the scope with 403 ``insufficient_scope``.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from secauth.testing import LocalIssuer
from secauth.testing_events import function_url

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mcp-server"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


class FunctionUrl:
    """A Lambda Function URL stand-in on 127.0.0.1 that runs ``handler`` per request."""

    def __init__(self, handler: Any) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else None
                path, _, query = self.path.partition("?")
                event = function_url(
                    self.command, path, headers=dict(self.headers.items()), body=body
                )
                event["rawQueryString"] = query
                answer = outer.handler(event, None)
                self.send_response(answer["statusCode"])
                text = answer.get("body") or ""
                raw = base64.b64decode(text) if answer.get("isBase64Encoded") else text.encode()
                for name, value in (answer.get("headers") or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.handler = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FunctionUrl:
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def load_server(monkeypatch: pytest.MonkeyPatch, resource: str, issuer: str) -> ModuleType:
    """Import ``examples/mcp-server/app/server.py`` as Lambda would, with its environment."""
    monkeypatch.setenv("MCP_RESOURCE", resource)
    monkeypatch.setenv("MCP_AUTHORIZATION_SERVER", issuer)
    monkeypatch.setenv("MCP_ALLOW_HTTP", "1")
    monkeypatch.setenv("MCP_ALLOWED_ORIGINS", "https://inspector.example")
    spec = importlib.util.spec_from_file_location(
        "mcp_example_server", EXAMPLE / "app" / "server.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.guard.decisions.mode = None  # keep test output quiet
    return module


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, LocalIssuer]]:
    """The example behind a loopback Function URL, and its authorization server.

    The resource URI is only known once the stand-in listens, so the module is imported
    then and the stand-in given its handler."""
    with LocalIssuer(algs=("ES256",)) as idp, FunctionUrl(None) as url:
        resource = f"{url.base_url}/mcp"
        url.handler = load_server(monkeypatch, resource, idp.issuer).handler
        yield resource, idp


def challenge_params(header: str) -> dict[str, str]:
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def rpc(method: str, params: dict[str, Any] | None = None, id_: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}}


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_client_flow_401_metadata_discovery_token_call(deployment: tuple[str, LocalIssuer]) -> None:
    resource, idp = deployment
    with httpx.Client(timeout=5) as client:
        # 1. No token: 401, and the challenge points at the metadata.
        first = client.post(resource, json=rpc("initialize"), headers=MCP_HEADERS)
        assert first.status_code == 401
        params = challenge_params(first.headers["WWW-Authenticate"])
        assert params["scope"] == "mcp.tools"
        assert "error" not in params  # RFC 6750: no error code without credentials
        metadata_url = params["resource_metadata"]
        assert metadata_url == resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")

        # 2. The metadata: public, cacheable, and about this very resource (RFC 9728 3.3).
        metadata = client.get(metadata_url)
        assert metadata.status_code == 200
        assert metadata.headers["Content-Type"] == "application/json"
        assert metadata.headers["Cache-Control"].startswith("public")
        document = metadata.json()
        assert document["resource"] == resource
        assert document["scopes_supported"] == ["mcp.tools"]
        assert document["bearer_methods_supported"] == ["header"]
        assert "dpop_bound_access_tokens_required" not in document
        root = client.get(resource.replace("/mcp", "/.well-known/oauth-protected-resource"))
        assert root.json() == document

        # 3. The authorization server, from its discovery document.
        (server,) = document["authorization_servers"]
        discovery = client.get(f"{server}/.well-known/openid-configuration").json()
        assert discovery["issuer"] == server

        # 4. A token for this resource (what the token endpoint gives for resource=...).
        token = idp.token(sub="agent-7", aud=document["resource"], scope="mcp.tools")
        auth = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}

        init = client.post(
            resource, json=rpc("initialize", {"protocolVersion": "2025-06-18"}), headers=auth
        )
        assert init.status_code == 200
        assert init.json()["result"]["protocolVersion"] == "2025-06-18"
        assert init.json()["result"]["capabilities"] == {"tools": {"listChanged": False}}
        auth["MCP-Protocol-Version"] = "2025-06-18"
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert client.post(resource, json=note, headers=auth).status_code == 202

        listed = client.post(resource, json=rpc("tools/list", id_=2), headers=auth)
        assert listed.status_code == 200
        assert [t["name"] for t in listed.json()["result"]["tools"]] == ["add", "whoami"]

        call = rpc("tools/call", {"name": "add", "arguments": {"a": 2, "b": 40}}, id_=3)
        added = client.post(resource, json=call, headers=auth)
        assert added.status_code == 200
        assert added.json() == {
            "jsonrpc": "2.0",
            "id": 3,
            "result": {"content": [{"type": "text", "text": "42"}], "isError": False},
        }
        who = client.post(resource, json=rpc("tools/call", {"name": "whoami"}, 4), headers=auth)
        assert who.json()["result"]["content"][0]["text"] == "agent-7"

        unknown = client.post(resource, json=rpc("nope", id_=5), headers=auth)
        assert unknown.json()["error"]["code"] == -32601
        bad = client.post(resource, json=rpc("tools/call", {"name": "rm"}, 6), headers=auth)
        assert bad.json()["error"]["code"] == -32602


def test_token_for_another_resource_is_401(deployment: tuple[str, LocalIssuer]) -> None:
    resource, idp = deployment
    for aud in ("https://other.example.com/mcp", resource + "/", resource.upper(), None):
        token = idp.token(sub="agent-7", aud=aud, scope="mcp.tools")
        answer = httpx.post(
            resource,
            json=rpc("tools/list"),
            headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 401, aud
        params = challenge_params(answer.headers["WWW-Authenticate"])
        assert params["error"] == "invalid_token"
        assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")


def test_token_without_the_scope_is_403_insufficient_scope(
    deployment: tuple[str, LocalIssuer],
) -> None:
    resource, idp = deployment
    token = idp.token(sub="agent-7", aud=resource, scope="profile")
    answer = httpx.post(
        resource,
        json=rpc("tools/list"),
        headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 403
    params = challenge_params(answer.headers["WWW-Authenticate"])
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "mcp.tools"
    assert "resource_metadata" in params
    assert answer.json()["title"] == "insufficient scope"


def test_transport_rules(deployment: tuple[str, LocalIssuer]) -> None:
    resource, idp = deployment
    token = idp.token(sub="agent-7", aud=resource, scope="mcp.tools")
    auth = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=5) as client:
        # No server-sent event stream here: GET /mcp is 405 (Allow: POST).
        stream = client.get(resource, headers=auth)
        assert stream.status_code == 405
        assert stream.headers["Allow"] == "POST"
        # DNS rebinding: an Origin that is not allowed is refused.
        foreign = client.post(
            resource, json=rpc("ping"), headers={**auth, "Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        allowed = client.post(
            resource, json=rpc("ping"), headers={**auth, "Origin": "https://inspector.example"}
        )
        assert allowed.json()["result"] == {}
        version = client.post(
            resource, json=rpc("ping"), headers={**auth, "MCP-Protocol-Version": "1999-01-01"}
        )
        assert version.status_code == 400
        parse = client.post(resource, content=b"{not json", headers=auth)
        assert parse.json()["error"]["code"] == -32700
        text = client.post(resource, content=b"{}", headers={**auth, "Content-Type": "text/plain"})
        assert text.status_code == 415
        # The metadata takes no token, and only GET.
        metadata = resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
        assert client.post(metadata, json={}, headers=MCP_HEADERS).status_code == 401


@pytest.mark.skipif(not CFN_LINT.exists(), reason="cfn-lint is a dev dependency")
def test_template_passes_cfn_lint() -> None:
    result = subprocess.run(
        [str(CFN_LINT), str(EXAMPLE / "template.yaml")], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
