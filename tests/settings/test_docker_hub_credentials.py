"""dockerHubUsername and the secret dockerHubToken: both or neither, the token never in plaintext
and never echoed."""

from __future__ import annotations

import pytest

from settings import LOCATION_KEY, PROJECT, SettingsError, load_settings, parse_settings

TOKEN_KEY = f"{PROJECT}:dockerHubToken"
USER_KEY = f"{PROJECT}:dockerHubUsername"


def test_a_plaintext_docker_hub_token_is_refused_without_echoing_it() -> None:
    entries = {LOCATION_KEY: "eastus2", USER_KEY: "ml-bot", TOKEN_KEY: "dckr_pat_plaintext"}
    with pytest.raises(SettingsError) as caught:
        load_settings(entries, "dev")
    message = str(caught.value)
    assert f"{TOKEN_KEY}: is stored in plaintext in Pulumi.dev.yaml" in message
    assert "pulumi config set --secret dockerHubToken" in message
    assert "dckr_pat_plaintext" not in message


def test_an_encrypted_token_reaches_the_settings_only_as_the_secret_passed_in() -> None:
    entries = {LOCATION_KEY: "eastus2", USER_KEY: "ml-bot", TOKEN_KEY: "ciphertext"}
    settings = load_settings(
        entries, "dev", secret_keys={TOKEN_KEY}, docker_hub_token="the-secret-output"
    )
    assert settings.docker_hub_username == "ml-bot"
    assert settings.docker_hub_token == "the-secret-output"
    assert "the-secret-output" not in repr(settings)


@pytest.mark.parametrize(
    ("username", "token", "expected"),
    [
        ("ml-bot", None, f"{USER_KEY} = 'ml-bot': needs dockerHubToken too"),
        ("", "a-token", f"{TOKEN_KEY}: needs dockerHubUsername too"),
        ("not a name", "a-token", f"{USER_KEY} = 'not a name': must be empty or a Docker Hub"),
    ],
)
def test_the_two_go_together(username: str, token: str | None, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({"dockerHubUsername": username}, "dev", "eastus2", docker_hub_token=token)
    assert any(problem.startswith(expected) for problem in caught.value.problems), (
        caught.value.problems
    )


def test_without_them_the_import_is_anonymous() -> None:
    settings = parse_settings({}, "dev", "eastus2")
    assert settings.docker_hub_username is None
    assert settings.docker_hub_token is None
