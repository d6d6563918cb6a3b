"""`make try-endpoint`: a labelled stand-in endpoint that the client tools can talk to."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tools import fake_endpoint
from tools.offline import ROOT


def test_banner_says_it_is_a_stand_in_and_how_to_use_it() -> None:
    text = fake_endpoint.banner("http://127.0.0.1:1234/v1", 60)
    assert text.startswith("STAND-IN ENDPOINT (not Azure, not a model)")
    assert "export VLLM_AZUREML_BASE_URL=http://127.0.0.1:1234/v1" in text
    assert "make chat" in text and "make smoke" in text


def test_it_stops_by_itself(capsys: pytest.CaptureFixture[str]) -> None:
    assert fake_endpoint.main(["--minutes", "0.001"], sleep=0.01) == 0
    assert "Stand-in endpoint stopped." in capsys.readouterr().out


@pytest.mark.parametrize("minutes", ["0", "-1", "100000"])
def test_an_unbounded_or_empty_run_is_refused(minutes: str) -> None:
    assert fake_endpoint.main(["--minutes", minutes]) == 2


def test_chat_and_smoke_answer_through_it(isolated_environment) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "tools.fake_endpoint", "--minutes", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(6)]
        url = re.search(r"VLLM_AZUREML_BASE_URL=(\S+)", "".join(lines))
        assert url, lines
        env = {
            **os.environ,
            "VLLM_AZUREML_BASE_URL": url.group(1),
            "VLLM_AZUREML_API_KEY": fake_endpoint.DEMO_KEY,
        }
        for command in (
            ["clients.chat", "--base-url", url.group(1), "What is 17 + 25?"],
            ["clients.smoke", "--base-url", url.group(1)],
        ):
            result = subprocess.run(
                [sys.executable, "-m", *command],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
