"""Push credentials for the workspace registry without its admin user.

The registry's admin user is a shared, never-expiring password that anyone with the listCredentials
permission can read; it stays disabled. Instead the deployer's own Entra ID identity (a developer's
`az login`, or CI's federated OIDC login) is exchanged at the registry's ``/oauth2/exchange``
endpoint for an ACR refresh token, which Docker accepts as the password of the null-GUID user
(github.com/Azure/acr docs/AAD-OAuth.md). The token is valid for 3 hours, carries the deployer's own
registry permissions (AcrPush, or Owner/Contributor on the registry), and is a Pulumi secret.

It is fetched only when `pulumi up` really deploys: never during a preview (nothing is pushed then)
and never under the offline mocks, which need no Azure login at all.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pulumi

from lib import bounded_http, runtime
from lib.arm import ARM_SCOPE, LOGIN_HELP, TokenCredential, default_credential
from lib.bounded_http import Deadline, HttpError
from lib.redact import Redactor

# Docker's username for an ACR refresh token (AAD-OAuth.md, "Authenticating docker with an ACR
# refresh token"): the registry then reads the password as a token, not as a user's password.
NULL_GUID_USERNAME = "00000000-0000-0000-0000-000000000000"

# The registry checks the deployer's permissions through ARM with the exchanged Entra ID token
# (AAD-OAuth.md), so an ARM-audience token is what it expects, the same one `az acr login` uses.
EXCHANGE_SCOPE = ARM_SCOPE

# What the registry password input holds when no token is fetched (preview, offline). pulumi-docker
# neither builds nor pushes then, and it ignores password changes when diffing, so the real token
# on `pulumi up` causes no rebuild.
NOT_FETCHED = "not-fetched-during-preview"

# The exchange is one small form POST; a registry that takes longer, or answers with more, is not
# one to wait for.
EXCHANGE_DEADLINE_SECONDS = 60.0
MAX_EXCHANGE_BODY_BYTES = 1024 * 1024


class RegistryLoginError(pulumi.RunError):
    """No usable Azure login for the registry push. A RunError, so the Pulumi CLI prints the message
    and stops without a Python traceback: the fix is the user's login, not the code."""


def _tenant_of(access_token: str) -> str | None:
    """The ``tid`` claim of an Entra ID access token (read, not verified: the registry verifies)."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    tenant = claims.get("tid") if isinstance(claims, dict) else None
    return tenant if isinstance(tenant, str) else None


def exchange_refresh_token(
    login_server: str,
    credential: TokenCredential | None = None,
    base_url: str | None = None,
) -> str:
    """An ACR refresh token for ``login_server`` in exchange for the caller's Entra ID token.

    ``base_url`` replaces ``https://<login_server>`` (tests point it at a loopback server). Raises
    :class:`RegistryLoginError` with what to do when there is no login or it lacks permission.
    """
    try:
        access_token = str((credential or default_credential()).get_token(EXCHANGE_SCOPE).token)
    except Exception as error:
        # Any failure, not only ClientAuthenticationError: the fix is the login either way.
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise RegistryLoginError(
            f"Cannot push the vLLM image to {login_server}: no usable Azure login ({reason}). "
            f"{LOGIN_HELP}"
        ) from None
    form = {"grant_type": "access_token", "service": login_server, "access_token": access_token}
    tenant = _tenant_of(access_token)
    if tenant:
        form["tenant"] = tenant
    url = f"{(base_url or f'https://{login_server}').rstrip('/')}/oauth2/exchange"
    scheme, host = urlsplit(url).scheme, urlsplit(url).hostname or ""
    if scheme != "https" and not (scheme == "http" and bounded_http.is_loopback(host)):
        raise RegistryLoginError(f"Refusing to send the Azure token to {url}: not https")
    redactor = Redactor(access_token)
    try:
        with bounded_http.request(
            "POST",
            url,
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            urlencode(form).encode(),
            Deadline(EXCHANGE_DEADLINE_SECONDS),
        ) as response:
            status, body = response.status, response.read(MAX_EXCHANGE_BODY_BYTES)
    except HttpError as error:
        raise RegistryLoginError(
            f"Cannot reach registry {login_server} to exchange the Azure login for a push token: "
            f"{error}. With a private registry, run `pulumi up` from a network that reaches it."
        ) from None
    if status in (401, 403):
        raise RegistryLoginError(
            f"Registry {login_server} refused the Azure login ({status}): the "
            "identity running `pulumi up` needs AcrPush or Owner/Contributor on the registry "
            "(Container Registry Repository Writer if the registry uses ABAC permissions). "
            + LOGIN_HELP
        )
    text = body.decode("utf-8", "replace")
    if status >= 400:
        raise RegistryLoginError(
            f"Registry {login_server} answered {status} to the token exchange: "
            f"{redactor(text[:300])}"
        )
    try:
        payload: Any = json.loads(text) if text.strip() else {}
    except ValueError:
        payload = {}
    token = payload.get("refresh_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryLoginError(f"Registry {login_server} returned no refresh token")
    return token


def registry_password(
    login_server: pulumi.Input[str], after: pulumi.Input[Any]
) -> pulumi.Output[str]:
    """The push password for ``login_server``, a Pulumi secret.

    The token is fetched once ``after`` resolves (the base image import), so its 3 hours start
    just before the build that uses it rather than before a long import. Outside a real deployment
    the password is the fixed placeholder :data:`NOT_FETCHED` and no Azure call is made.
    """
    if not runtime.deploying_for_real():
        return pulumi.Output.secret(NOT_FETCHED)
    token = pulumi.Output.all(login_server, after).apply(
        lambda values: exchange_refresh_token(values[0])
    )
    return pulumi.Output.secret(token)
