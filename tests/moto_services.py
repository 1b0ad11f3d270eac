"""moto's server (the AWS services it emulates) on 127.0.0.1, for the Secrets Manager tests.

``MotoServer`` serves on a free port in a thread; ``secretsmanager_client`` is a boto3
client for it with dummy credentials; ``create_secret`` makes a secret with a fresh name.
The ``moto`` and ``secrets_manager`` fixtures in ``tests/conftest.py`` use them.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

REGION = "us-east-1"
_names = itertools.count()


class _QuietHandler(MotoRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


class MotoServer:
    """moto's server (all AWS services it emulates) on 127.0.0.1, a free port, in a thread."""

    def __init__(self) -> None:
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1",
            0,
            DomainDispatcherApplication(create_backend_app),
            threaded=True,
            request_handler=_QuietHandler,
        )
        self.port: int = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket: later connections are refused."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def secretsmanager_client(endpoint: str) -> Any:
    """A Secrets Manager client for the emulator at ``endpoint``, with dummy credentials."""
    return boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def create_secret(client: Any, value: str | bytes) -> str:
    """A new secret holding ``value`` (text or binary); its name."""
    name = f"secauth/test-keys-{next(_names)}"
    if isinstance(value, bytes):
        client.create_secret(Name=name, SecretBinary=value)
    else:
        client.create_secret(Name=name, SecretString=value)
    return name
