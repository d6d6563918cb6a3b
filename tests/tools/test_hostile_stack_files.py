"""Hostile stack files through `python -m tools.preview --stack-file`, in-process.

Each case is a file that a user with a typo or an attacker with a crafted file could hand the
preview. Every one must be refused cleanly: exit 2, a message that names the file or the key, no
traceback, no secret from the file in the output, a bounded output, and within 2 s (issue 12's bar;
the slowest case takes a fraction of that, `--durations` shows the figures).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools import preview

FILE_NAME = "Pulumi.hostile.yaml"
# A valid stack's first lines; most cases add to them.
BASE = "config:\n  azure-native:location: swedencentral\n  vllm-azureml:owner: ml-platform\n"
# Secrets planted in files: none may appear in the output.
SECRET = "s3cr3t-value-do-not-echo-0123456789"
# The most a refusal may print: a page, whatever the file holds.
MAX_OUTPUT_CHARACTERS = 8_000


@dataclass(frozen=True)
class Hostile:
    """One hostile file: its bytes (or a function writing it), and what the refusal must name."""

    name: str
    content: bytes | Callable[[Path], None]
    names: str

    def write(self, path: Path) -> None:
        if callable(self.content):
            self.content(path)
        else:
            path.write_bytes(self.content)


def text(body: str) -> bytes:
    return body.encode("utf-8")


def config(*lines: str) -> bytes:
    """The base stack with ``lines`` added under `config:` (each already indented)."""
    return text(BASE + "".join(f"{line}\n" for line in lines))


def deployment(*lines: str) -> bytes:
    """The base stack with one deployment holding ``lines`` (indented under the list item)."""
    return config(
        "  vllm-azureml:deployments:",
        "    - name: blue",
        "      traffic: 100",
        *(f"      {line}" for line in lines),
    )


def sparse(size: int) -> Callable[[Path], None]:
    """A file of ``size`` bytes that costs nothing to write (a sparse file)."""

    def write(path: Path) -> None:
        with path.open("wb") as handle:
            handle.write(BASE.encode())
            handle.truncate(size)

    return write


def alias_bomb(levels: int, fanout: int) -> bytes:
    lines = [f"  a0: &a0 [{', '.join(['x'] * fanout)}]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*a{level - 1}"] * fanout)
        lines.append(f"  a{level}: &a{level} [{aliases}]")
    return config(*lines)


def many_keys(count: int) -> bytes:
    return config(*(f"  vllm-azureml:key{index}: value" for index in range(count)))


ENCODING = [
    Hostile("latin-1 byte", BASE.encode() + b"  vllm-azureml:costCenter: caf\xe9\n", FILE_NAME),
    Hostile("windows-1252 quote", BASE.encode() + b"  vllm-azureml:owner: \x93ml\x94\n", "offset"),
    Hostile("utf-16 le with bom", BASE.encode("utf-16"), "UTF-16"),
    Hostile("utf-16 be with bom", b"\xfe\xff" + BASE.encode("utf-16-be"), "UTF-16"),
    Hostile("utf-16 without bom", BASE.encode("utf-16-le"), "NUL"),
    Hostile("utf-32 with bom", BASE.encode("utf-32"), "UTF-32"),
    Hostile("stray continuation byte", BASE.encode() + b"  vllm-azureml:x: \x80\n", "offset"),
    Hostile("truncated multibyte at end", BASE.encode() + b"  vllm-azureml:x: \xe2\x82", "UTF-8"),
    Hostile("encoded surrogate", BASE.encode() + b"  vllm-azureml:x: \xed\xa0\x80\n", "UTF-8"),
    Hostile("overlong encoding", BASE.encode() + b"  vllm-azureml:x: \xc0\xaf\n", "UTF-8"),
    Hostile("raw nul byte", BASE.encode() + b"  vllm-azureml:x: a\x00b\n", "NUL"),
]

SIZE = [
    Hostile("just over 1 MB", sparse(1024 * 1024 + 1), "1,048,576 bytes"),
    Hostile("50 MB", sparse(50 * 1024 * 1024), "1,048,576 bytes"),
    Hostile("one 10 MB value", sparse(10 * 1024 * 1024), FILE_NAME),
    Hostile("a 100 KB scalar", config("  vllm-azureml:owner2: " + "x" * 100_000), "65,536"),
    Hostile("25,000 keys", many_keys(25_000), "20,000 values"),
]

STRUCTURE = [
    Hostile("duplicate config key", config("  vllm-azureml:owner: attacker"), "vllm-azureml:owner"),
    Hostile(
        "duplicate config: block", text(BASE + "config:\n  vllm-azureml:owner: x\n"), "'config'"
    ),
    Hostile(
        "duplicate key inside a deployment", deployment("traffic: 0"), "'traffic' is given twice"
    ),
    Hostile(
        "duplicate key in a profile",
        deployment(
            "autoscale:",
            "  profiles:",
            "    - name: a",
            '      start: "08:00"',
            '      start: "09:00"',
        ),
        "'start' is given twice",
    ),
    Hostile("integer key", config("  1: one"), "'1'"),
    Hostile("null key", config("  ~: nothing"), "'~'"),
    Hostile("boolean key", config("  yes: sure"), "'yes'"),
    Hostile("float key", config("  1.5: x"), "'1.5'"),
    Hostile("list as key", config("  ? [a, b]", "  : x"), "list or a mapping"),
    Hostile("alias bomb 9 x 9", alias_bomb(9, 9), "alias bomb"),
    Hostile("recursive alias", config("  vllm-azureml:tags: &t {a: *t}"), "itself"),
    Hostile(
        "too many aliases", config("  x: &x a", *(f"  y{i}: *x" for i in range(150))), "aliases"
    ),
    Hostile("10,000 nested lists", config("  vllm-azureml:tags: " + "[" * 10_000), "deeper"),
    Hostile(
        "deeply nested mappings",
        config(*(f"  {'  ' * depth}k{depth}:" for depth in range(60))),
        "deeper",
    ),
    Hostile("merge key", config("  b: &b {x: 1}", "  c:", "    <<: *b"), "merge key"),
    Hostile("python object tag", config("  x: !!python/object/apply:os.system [id]"), "tag"),
    Hostile("set tag", config("  vllm-azureml:tags: !!set {a, b}"), "tag"),
    Hostile("binary tag", config("  vllm-azureml:costCenter: !!binary aGVsbG8="), "tag"),
    Hostile("custom tag", config("  vllm-azureml:costCenter: !vault owner"), "tag"),
    Hostile("top level is a list", text("- config\n- x\n"), "mapping"),
    Hostile("top level is a scalar", text("just text\n"), "mapping"),
    Hostile("config is a list", text("config:\n  - a\n  - b\n"), "`config:`"),
    Hostile("misspelt config:", text(BASE.replace("config:", "confg:")), "'config'"),
    Hostile("ESC environment import", text(BASE + "environment:\n  - prod-secrets\n"), "ESC"),
]

SYNTAX = [
    Hostile(
        "unquoted 20:00", deployment("autoscale:", "  profiles:", "    - start: 20:00"), "quote it"
    ),
    Hostile("unquoted 8:30:00", config("  vllm-azureml:costCenter: 8:30:00"), "quote it"),
    Hostile("yes for true", config("  vllm-azureml:protectResources: yes"), "'yes'"),
    Hostile("off for false", config("  vllm-azureml:keyVaultPurgeProtection: off"), "'off'"),
    Hostile("underscored number", config("  vllm-azureml:logRetentionDays: 1_000"), "'1_000'"),
    Hostile("octal-looking number", config("  vllm-azureml:keyVaultRetentionDays: 010"), "'010'"),
    Hostile("exponent without dot", config("  vllm-azureml:logRetentionDays: 1e3"), "'1e3'"),
    Hostile("unquoted date", config("  vllm-azureml:costCenter: 2026-12-01"), "date"),
    Hostile(
        "5,000-digit number", config("  vllm-azureml:logRetentionDays: " + "9" * 5000), "number"
    ),
    Hostile("tab indentation", text(BASE + "\tvllm-azureml:costCenter: x\n"), "tabs"),
    Hostile("unclosed quote", config('  vllm-azureml:owner2: "never closed'), FILE_NAME),
    Hostile("value with colon-space", config("  vllm-azureml:costCenter: a: b"), "quoted"),
    Hostile("bell control character", config("  vllm-azureml:costCenter: a\x07b"), "control"),
    Hostile("unclosed flow list", config("  vllm-azureml:outboundFqdns: [a.com, b.com"), FILE_NAME),
    Hostile("two documents", text(BASE + "---\nconfig: {}\n"), FILE_NAME),
    Hostile("base-60 float", config("  vllm-azureml:costCenter: 190:20:30.15"), "quote it"),
    Hostile("YAML 2.0 directive", text("%YAML 2.0\n---\n" + BASE), FILE_NAME),
    Hostile(
        "tag directive hijacking !!",
        text("%TAG !! tag:yaml.org,2002:python/\n---\n" + BASE + "  x: !!object:os.system id\n"),
        "tag",
    ),
    Hostile("undefined alias", config("  vllm-azureml:costCenter: *nowhere"), "nowhere"),
    Hostile("junk after document end", text(BASE + "...\njunk: [\n"), FILE_NAME),
]

SETTINGS = [
    Hostile("namespace one letter off", config("  vllm-azurml:authMode: AADToken"), "vllm-azurml"),
    Hostile(
        "namespace with capital I for l",
        config("  vllm-azuremI:endpointPublicNetworkAccess: Disabled"),
        "did you mean 'vllm-azureml'?",
    ),
    Hostile(
        "namespace with a Cyrillic a",
        config("  vllm-\u0430zureml:authMode: AADToken"),
        "U+0430 CYRILLIC SMALL LETTER A",
    ),
    Hostile(
        "namespace with a zero-width space",
        config("  vllm-azure\u200bml:authMode: AADToken"),
        "U+200B ZERO WIDTH SPACE",
    ),
    Hostile(
        "project key with a Greek omicron",
        config("  vllm-azureml:authM\u03bfde: AADToken"),
        "did you mean 'authMode'?",
    ),
    Hostile(
        "deployment key with a Cyrillic es",
        deployment("instan\u0441eCount: 2"),
        "did you mean 'instanceCount'?",
    ),
    Hostile("a namespace nothing reads", config("  aws:region: us-east-1"), "read by nothing"),
    Hostile("misspelt provider key", config("  azure-native:subscriptonId: x"), "subscriptionId"),
    Hostile("misspelt engine key", config("  pulumi:disable-default-provider: [x]"), "providers"),
    Hostile(
        "plaintext provider secret",
        config(f"  azure-native:clientSecret: {SECRET}"),
        "azure-native:clientSecret",
    ),
    Hostile(
        "plaintext Hugging Face token",
        config(f"  vllm-azureml:huggingFaceToken: {SECRET}"),
        "plaintext",
    ),
    Hostile("plaintext vLLM API key", config(f"  vllm-azureml:vllmApiKey: {SECRET}"), "vllmApiKey"),
    Hostile(
        "vllmApiKey with Entra ID",
        config("  vllm-azureml:authMode: AADToken", "  vllm-azureml:vllmApiKey:", "    secure: x"),
        "AADToken",
    ),
    Hostile(
        "--api-key=KEY in extraArgs",
        deployment("vllm:", f'  extraArgs: ["--api-key={SECRET}"]'),
        "vllmApiKey",
    ),
    Hostile(
        "two-item --api-key in extraArgs",
        deployment("vllm:", f'  extraArgs: ["--api-key", "{SECRET}"]'),
        "vllmApiKey",
    ),
    Hostile(
        "--api_key in extraArgs",
        deployment("vllm:", f'  extraArgs: ["--api_key={SECRET}"]'),
        "vllmApiKey",
    ),
    Hostile(
        "abbreviated --api-k in extraArgs",
        deployment("vllm:", f'  extraArgs: ["--api-k", "{SECRET}"]'),
        "vllmApiKey",
    ),
    Hostile(
        "NUL in extraArgs", deployment("vllm:", '  extraArgs: ["--chat-template=a\\0b"]'), "NUL"
    ),
    Hostile(
        "one extra argument of 60 KB",
        deployment("vllm:", "  extraArgs:", "    - --chat-template=" + "y" * 60_000),
        "SERVE_EXTRA_ARGS",
    ),
    Hostile(
        "extraArgs of 40 KB in small pieces",
        deployment("vllm:", "  extraArgs:", *[f"    - --o{'p' * 1000}" for _ in range(40)]),
        "SERVE_EXTRA_ARGS",
    ),
    Hostile(
        "65 extra arguments",
        deployment("vllm:", "  extraArgs:", *["    - --enforce-eager"] * 65),
        "at most 64 items",
    ),
    Hostile(
        "21 deployments",
        config(
            "  vllm-azureml:deployments:",
            *[
                f"    - {{name: d{index:03d}, traffic: {100 if index == 0 else 0}}}"
                for index in range(21)
            ],
        ),
        "at most 20 deployments",
    ),
    Hostile(
        "2,000 deployments",
        config(
            "  vllm-azureml:deployments:",
            *[f"    - {{name: d{index:05d}}}" for index in range(2000)],
        ),
        "got 2,000",
    ),
    Hostile(
        "tag Owner beside owner", config("  vllm-azureml:tags: {Owner: someone}"), "tags.Owner"
    ),
    Hostile("tags differing in case", config("  vllm-azureml:tags: {env: a, ENV: b}"), "tags.ENV"),
    Hostile("tag name with <", config("  vllm-azureml:tags: {'a<b': x}"), "1-128"),
    Hostile("tag name with newline", config('  vllm-azureml:tags: {"a\\nb": x}'), "control"),
    Hostile("tag value with NUL", config('  vllm-azureml:tags: {team: "a\\0b"}'), "control"),
    Hostile("tag value with tab", config('  vllm-azureml:tags: {team: "a\\tb"}'), "control"),
    Hostile("tag name of 129", config(f"  vllm-azureml:tags: {{{'n' * 129}: x}}"), "1-128"),
    Hostile("tag value of 257", config(f"  vllm-azureml:tags: {{team: {'v' * 257}}}"), "256"),
    Hostile("owner with a newline", config('  vllm-azureml:costCenter: "a\\nb"'), "costCenter"),
    Hostile(
        "owner of 50,000 characters",
        config(f"  vllm-azureml:costCenter: {'c' * 50_000}"),
        "costCenter",
    ),
    Hostile(
        "10,000 outbound hosts",
        config(
            "  vllm-azureml:outboundFqdns:",
            *[f"    - h{index}.example.com" for index in range(10_000)],
        ),
        "at most 100 items",
    ),
    Hostile(
        "5,000 unknown keys",
        config(*[f"  vllm-azureml:unknown{index}: x" for index in range(5_000)]),
        "more",
    ),
    Hostile("empty project key", config('  "vllm-azureml:": x'), "unknown configuration key"),
    Hostile("deployments as a string", config("  vllm-azureml:deployments: blue"), "deployments"),
]

CASES = ENCODING + SIZE + STRUCTURE + SYNTAX + SETTINGS


@pytest.fixture(scope="module", autouse=True)
def warm_imports() -> None:
    """Import the program's heavy modules once, so each case's time is its own work, not the
    azure-native SDK's first import."""
    for module in ("settings", "components.endpoint", "components.workspace", "components.image"):
        importlib.import_module(module)


def test_the_cases_are_distinct_and_enough() -> None:
    assert len({case.name for case in CASES}) == len(CASES)
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_stack_file_is_refused_cleanly(
    case: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / FILE_NAME
    case.write(path)
    started = time.perf_counter()
    code = preview.main(["--stack-file", str(path)])
    elapsed = time.perf_counter() - started
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert case.names in err, err
    assert SECRET not in err
    assert len(err) <= MAX_OUTPUT_CHARACTERS, f"{len(err)} characters of output"
    assert elapsed < 2.0, f"{elapsed:.2f} s"
