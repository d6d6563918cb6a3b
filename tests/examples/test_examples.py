"""The examples in examples/ run against the loopback fake of vLLM behind AzureML."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples import openai_entra, openai_key, streaming_reasoning
from examples.common import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL
from tests.support.fake_vllm import DEFAULT_MODEL, FakeCredential, FakeVllm


@pytest.fixture
def fake(isolated_environment: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVllm]:
    with FakeVllm() as server:
        monkeypatch.setenv(ENV_BASE_URL, server.base_url)
        monkeypatch.setenv(ENV_API_KEY, server.api_key)
        monkeypatch.setenv(ENV_MODEL, DEFAULT_MODEL)
        yield server


def test_openai_sdk_with_the_endpoint_key(fake: FakeVllm) -> None:
    assert openai_key.main("What is 17 + 25?") == fake.content
    (request,) = fake.chat_requests()
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.body["model"] == DEFAULT_MODEL
    assert request.body["temperature"] == 0.6


def test_openai_sdk_with_entra_id_tokens(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeVllm(auth_mode="AADToken") as fake:
        monkeypatch.setenv(ENV_BASE_URL, fake.base_url)
        monkeypatch.setenv(ENV_MODEL, DEFAULT_MODEL)
        credential = FakeCredential(token=fake.aad_token)
        assert openai_entra.main("What is 17 + 25?", credential=credential) == fake.content
        (request,) = fake.chat_requests()
        assert request.headers["authorization"] == f"Bearer {fake.aad_token}"
        assert credential.scopes and all(
            scopes == (openai_entra.SCOPE,) for scopes in credential.scopes
        )


def test_streaming_shows_the_reasoning_apart_from_the_answer(fake: FakeVllm) -> None:
    pieces = list(streaming_reasoning.stream("What is 17 + 25?"))
    reasoning = "".join(text for kind, text in pieces if kind == "reasoning")
    answer = "".join(text for kind, text in pieces if kind == "answer")
    assert (reasoning, answer) == (fake.reasoning, fake.content)
    out = io.StringIO()
    streaming_reasoning.main("What is 17 + 25?", out=out)
    text = out.getvalue()
    assert text.index("[thinking]") < text.index(fake.reasoning) < text.index("[answer]")
    assert text.rstrip().endswith(fake.content)


def test_older_vllm_reasoning_field_is_read_too(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeVllm(reasoning_field="reasoning_content") as fake:
        monkeypatch.setenv(ENV_BASE_URL, fake.base_url)
        monkeypatch.setenv(ENV_API_KEY, fake.api_key)
        monkeypatch.setenv(ENV_MODEL, DEFAULT_MODEL)
        reasoning = "".join(t for k, t in streaming_reasoning.stream("q") if k == "reasoning")
        assert reasoning == fake.reasoning


def test_a_missing_variable_names_it(isolated_environment: Path) -> None:
    with pytest.raises(SystemExit, match=ENV_BASE_URL):
        openai_key.main("q")
