"""The Entra ID -> ACR refresh token exchange (lib.acr_token), against a loopback registry."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pulumi
import pytest
from azure.core.exceptions import ClientAuthenticationError

from lib.acr_token import RegistryLoginError, exchange_refresh_token
from tests.support.loopback import SERVE_POLL_SECONDS

LOGIN_SERVER = "crvllmtest123.azurecr.io"


def _jwt(claims: dict[str, str]) -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


class _Credential:
    def __init__(self, token: str):
        self.token = token
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> Any:
        self.scopes.extend(scopes)
        return type("AccessToken", (), {"token": self.token})()


class _NoLogin:
    def get_token(self, *scopes: str, **_: Any) -> Any:
        raise ClientAuthenticationError(
            "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
            "Attempted credentials: ..."
        )


@pytest.fixture
def registry_server() -> Iterator[tuple[str, list[dict[str, list[str]]], dict[str, Any]]]:
    """A loopback stand-in for the registry's /oauth2/exchange."""
    forms: list[dict[str, list[str]]] = []
    behaviour: dict[str, Any] = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            forms.append(parse_qs(self.rfile.read(length).decode(), keep_blank_values=True))
            ok = self.path == "/oauth2/exchange" and behaviour["status"] == 200
            body = json.dumps({"refresh_token": "acr-refresh"} if ok else {"errors": []}).encode()
            self.send_response(behaviour["status"] if self.path == "/oauth2/exchange" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the loop's next poll (0.5 s by default); see SERVE_POLL_SECONDS.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SERVE_POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", forms, behaviour
    finally:
        server.shutdown()
        server.server_close()


def test_exchange_trades_the_entra_token_for_a_refresh_token(registry_server) -> None:
    url, forms, _ = registry_server
    access_token = _jwt({"tid": "11111111-2222-3333-4444-555555555555"})
    credential = _Credential(access_token)
    token = exchange_refresh_token(LOGIN_SERVER, credential=credential, base_url=url)
    assert token == "acr-refresh"
    assert credential.scopes == ["https://management.azure.com/.default"]
    assert forms == [
        {
            "grant_type": ["access_token"],
            "service": [LOGIN_SERVER],
            "access_token": [access_token],
            "tenant": ["11111111-2222-3333-4444-555555555555"],
        }
    ]


def test_missing_azure_login_is_a_clear_run_error(registry_server) -> None:
    url, forms, _ = registry_server
    with pytest.raises(RegistryLoginError) as raised:
        exchange_refresh_token(LOGIN_SERVER, credential=_NoLogin(), base_url=url)
    error = raised.value
    assert isinstance(error, pulumi.RunError)  # printed by the CLI without a traceback
    assert "az login" in str(error) and "azure/login" in str(error)
    assert error.__cause__ is None and error.__suppress_context__
    assert forms == []


def test_a_login_without_push_rights_names_the_role(registry_server) -> None:
    url, _, behaviour = registry_server
    behaviour["status"] = 401
    with pytest.raises(RegistryLoginError, match="AcrPush"):
        exchange_refresh_token(LOGIN_SERVER, credential=_Credential(_jwt({})), base_url=url)
