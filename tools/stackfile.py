"""Read a stack file (``Pulumi.<stack>.yaml``) as the offline harness's input, refusing what is not
a plain, unambiguous configuration document.

A stack file is input to this harness, and ``--stack-file`` takes any file, so every step is
bounded and linear in the file's size, and every refusal is a :class:`StackFileError` naming the
file, the line and what to do (the preview prints it and exits 2; never a traceback):

1. size: at most :data:`MAX_FILE_BYTES`, checked before the file is read whole;
2. encoding: strict UTF-8 (a UTF-16 byte-order mark, NUL bytes or a Latin-1 byte get a hint);
3. YAML, with a loader that refuses duplicate keys at any level, keys that are not strings,
   merge keys, tags other than the plain JSON types, nesting deeper than :data:`MAX_DEPTH`, more
   than :data:`MAX_ALIASES` aliases, and documents that would expand past :data:`MAX_NODES` nodes
   (an alias bomb is measured on the node graph, before anything is expanded);
4. scalars that YAML 1.1 (this loader, PyYAML) and YAML 1.2 (the Pulumi CLI, Go's yaml.v3) read
   differently: ``20:00`` is the number 72000 in 1.1 and the string "20:00" in 1.2, ``yes`` is true
   in 1.1 and a string in 1.2. The offline preview must see the file as ``pulumi up`` does, so such
   a value must be quoted.

Why each limit has its figure is in docs/security.md ("Stack files").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml._yaml import CParser  # libyaml, which PyYAML wheels bundle
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from lib.quoting import echo

# The committed stack files are about 2 KB; the largest real one imaginable (20 deployments with
# every key spelt out) is under 100 KB. 1 MB leaves room and parses in well under a second.
MAX_FILE_BYTES = 1024 * 1024
# The deepest legitimate path is config > deployments > [i] > autoscale > profiles > [j] > days:
# 8 levels. 32 leaves room and stays far from Python's recursion limit.
MAX_DEPTH = 32
# Anchors and aliases have no use in a stack file that `pulumi config set` writes; a few are
# tolerated for hand-written files.
MAX_ALIASES = 100
# Values (keys, scalars, lists, mappings), counting each alias as what it expands to. A stack file
# with 20 deployments and every key spelt out has about 3,000; an alias bomb of 9 levels of 9
# aliases has 9^9 = 387 million. Counting stops the composer at this figure, so no file costs
# more than ~20k nodes of work whatever its size.
MAX_NODES = 20_000
# One scalar: no setting takes more (vLLM's extra arguments are bounded at 32 KiB in all).
MAX_SCALAR_CHARACTERS = 64 * 1024

# The top-level keys of a stack file (pulumi/pulumi sdk/go/common/workspace/project.go,
# ProjectStack: secretsprovider, encryptedkey, encryptionsalt, config, environment).
STACK_FILE_KEYS = ("config", "encryptedkey", "encryptionsalt", "environment", "secretsprovider")

_PLAIN_TYPES = frozenset(
    {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:seq",
        "tag:yaml.org,2002:map",
    }
)
# Plain scalars whose type YAML 1.2's core schema (yaml.v3) resolves differently from YAML 1.1.
_BOOLEANS_1_2 = frozenset({"true", "false", "True", "False", "TRUE", "FALSE"})
_INTEGER_1_2 = re.compile(r"[-+]?(0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_1_2 = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)


class StackFileError(Exception):
    """A stack file that cannot be read as Pulumi configuration."""


class _Refused(yaml.YAMLError):
    """A loader refusal, carrying the node's position for the message."""

    def __init__(self, message: str, node: Any = None):
        # ``node`` is a node or an event: anything with the start_mark PyYAML gives both.
        super().__init__(message)
        self.message = message
        self.line = node.start_mark.line + 1 if node is not None else None


def _refuse_encoding(path: Path, data: bytes) -> None:
    """Raise with a hint when ``data`` is not UTF-8 text."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise StackFileError(
            f"{path}: starts with a UTF-32 byte-order mark; save it as UTF-8 (without BOM), "
            "as `pulumi config set` writes it"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise StackFileError(
            f"{path}: starts with a UTF-16 byte-order mark; save it as UTF-8 (without BOM), "
            "as `pulumi config set` writes it"
        )
    nul = data.find(b"\0")
    if nul != -1:
        line = data.count(b"\n", 0, nul) + 1
        raise StackFileError(
            f"{path}:{line}: contains a NUL byte at offset {nul}; a file with NULs is usually "
            "UTF-16 or UTF-32 without a byte-order mark: save it as UTF-8"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start]
        legacy = bytes([byte]).decode("cp1252", errors="replace")
        hint = (
            f"byte 0x{byte:02X} is {legacy!r} in Windows-1252/Latin-1: the file looks saved in "
            "a legacy encoding"
            if byte >= 0x80 and legacy != "\ufffd"
            else "the bytes do not form UTF-8"
        )
        raise StackFileError(
            f"{path}:{line}: is not UTF-8 at byte offset {error.start} ({hint}); save it as UTF-8"
        ) from None


def read_stack_file(path: Path) -> dict[str, Any]:
    """The stack file's document (a mapping with at most :data:`STACK_FILE_KEYS`), or
    :class:`StackFileError` saying why not."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise StackFileError(f"{path}: cannot be read ({error.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise StackFileError(
            f"{path}: is over {MAX_FILE_BYTES:,} bytes; a stack file holds configuration only "
            "(the committed ones are about 2 KB)"
        )
    _refuse_encoding(path, data)
    text = data.decode("utf-8")
    try:
        document = _load(text)
    except _Refused as error:
        where = f"{path}:{error.line}" if error.line else f"{path}"
        raise StackFileError(f"{where}: {error.message}") from None
    except yaml.MarkedYAMLError as error:
        raise StackFileError(_parse_error(path, error)) from None
    except yaml.reader.ReaderError as error:
        raise StackFileError(_reader_error(path, text, error)) from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: is not valid YAML: {echo(str(error))}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path}: must be a mapping with a `config:` mapping")
    for key in document:
        if key not in STACK_FILE_KEYS:
            raise StackFileError(
                f"{path}: unknown top-level key {echo(key)}{_hint(key)}; a stack file has "
                f"{', '.join(STACK_FILE_KEYS)} (configuration goes under `config:`)"
            )
    if document.get("environment"):
        raise StackFileError(
            f"{path}: imports Pulumi ESC environments (`environment:`), whose values only the "
            "Pulumi CLI can resolve; preview this stack with `pulumi preview`"
        )
    if not isinstance(document.get("config") or {}, dict):
        raise StackFileError(f"{path}: `config:` must be a mapping of keys to values")
    return document


def _hint(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, STACK_FILE_KEYS, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_error(path: Path, error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    what = error.problem or error.context or "not valid YAML"
    if error.context and error.context_mark and error.problem:
        what += f" ({error.context}, which starts on line {error.context_mark.line + 1})"
    hint = ""
    if "mapping values are not allowed" in what:
        hint = (
            "; a value that contains ': ' must be quoted, and keys must line up at the same indent"
        )
    elif "tab character" in what or "found character '\\t'" in what:
        hint = "; YAML indents with spaces, never tabs"
    return f"{where}: is not valid YAML: {echo(what)}{hint}"


def _reader_error(path: Path, text: str, error: yaml.reader.ReaderError) -> str:
    """libyaml's reader refuses control characters with an offset, not a line."""
    line = text.count("\n", 0, error.position) + 1
    return (
        f"{path}:{line}: contains the control character U+{error.character:04X}, which YAML "
        "does not allow; remove it (inside a double-quoted value, write it as an escape such as "
        "\\t if it is meant)"
    )


# --- The loader ----------------------------------------------------------------------------------


class _Composer(Composer):
    """PyYAML's composer, measuring the document as it builds the node graph.

    Each node's expanded size and depth (what it would be with every alias written out) are
    computed once, from its children's, as the node is composed: an alias bomb is refused by
    arithmetic on a few dozen nodes, before anything is expanded, and the work stays linear in the
    file. An alias to a node still being composed is a recursive structure, also refused.
    """

    # Provided by the parser this class is mixed with (libyaml's CParser).
    check_event: Any
    peek_event: Any

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.aliases = 0
        self.nodes = 0
        self.sizes: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Refused(f"has more than {MAX_ALIASES} aliases (*name)", event)
            node = super().compose_node(parent, index)
            if id(node) not in self.sizes:
                raise _Refused("refers to itself through an alias (a recursive structure)", node)
            return node
        self.depth += 1
        self.nodes += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(
                    f"nests deeper than {MAX_DEPTH} levels; no setting is nested that deep",
                    self.peek_event(),
                )
            if self.nodes > MAX_NODES:
                raise _Refused(f"has more than {MAX_NODES:,} values", self.peek_event())
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if node is not None:
            self._measure(node)
        return node

    def _measure(self, node: Node) -> None:
        size, depth = 1, 1
        if isinstance(node, SequenceNode | MappingNode):
            children = (
                node.value
                if isinstance(node, SequenceNode)
                else [part for pair in node.value for part in pair]
            )
            for child in children:
                child_size, child_depth = self.sizes[id(child)]
                size += child_size
                depth = max(depth, child_depth + 1)
        if size > MAX_NODES:
            raise _Refused(
                f"expands to more than {MAX_NODES:,} values through its aliases (an alias bomb); "
                "write the values out",
                node,
            )
        if depth > MAX_DEPTH:
            raise _Refused(f"nests deeper than {MAX_DEPTH} levels through its aliases", node)
        self.sizes[id(node)] = (size, depth)


class _Constructor(SafeConstructor):
    """PyYAML's safe constructor, refusing what a stack file must not hold."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if node.tag == "tag:yaml.org,2002:timestamp":
            raise _Refused(f"{echo(node.value)} reads as a date in YAML 1.1; quote it", node)
        if node.tag not in _PLAIN_TYPES:
            raise _Refused(
                f"uses the YAML tag {echo(node.tag)}; a stack file holds strings, numbers, "
                "booleans, null, lists and mappings only",
                node,
            )
        if isinstance(node, ScalarNode):
            _check_scalar(node)
        try:
            return super().construct_object(node, deep)
        except ValueError:
            # int() refuses numbers past Python's digit limit (sys.get_int_max_str_digits).
            raise _Refused(f"{echo(node.value)} is not a number any setting takes", node) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[str, Any]:  # type: ignore[override]
        # No flatten_mapping: merge keys are refused below, so what a key says is what it holds.
        mapping: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused("uses a merge key (<<); write the keys out", key_node)
            if not isinstance(key_node, ScalarNode):
                raise _Refused("a key here is a list or a mapping; keys are names", key_node)
            if key_node.tag != "tag:yaml.org,2002:str":
                kind = {"int": "a number", "float": "a number", "bool": "true/false"}.get(
                    key_node.tag.rsplit(":", 1)[-1], "null"
                )
                raise _Refused(
                    f"the key {echo(key_node.value)} reads as {kind}, not as a name; keys are "
                    "strings: quote it if it is one",
                    key_node,
                )
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in lines:
                raise _Refused(
                    f"the key {echo(key)} is given twice (lines {lines[key]} and {line}); YAML "
                    "would silently keep the last one: keep one",
                    key_node,
                )
            lines[key] = line
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _check_scalar(node: ScalarNode) -> None:
    value = node.value
    if len(value) > MAX_SCALAR_CHARACTERS:
        raise _Refused(
            f"has a value of {len(value):,} characters; no setting takes more than "
            f"{MAX_SCALAR_CHARACTERS:,}",
            node,
        )
    # libyaml reports a plain scalar's style as "", PyYAML's own parser as None.
    if node.style:
        return
    # Plain (unquoted) scalars: the type must be the same in YAML 1.1 and YAML 1.2.
    tag = node.tag
    if tag == "tag:yaml.org,2002:bool" and value not in _BOOLEANS_1_2:
        raise _Refused(
            f"{echo(value)} is true/false in YAML 1.1 (this preview) but the string "
            f"{echo(value)} in YAML 1.2 (the Pulumi CLI): write true or false, or quote it",
            node,
        )
    if tag == "tag:yaml.org,2002:int" and not _INTEGER_1_2.fullmatch(value):
        if ":" in value:
            raise _Refused(
                f"{echo(value)} is a number in base 60 in YAML 1.1 (this preview) but the string "
                f"{echo(value)} in YAML 1.2 (the Pulumi CLI): quote it, as in "
                f'"{shorten_plain(value)}"',
                node,
            )
        raise _Refused(
            f"{echo(value)} is read differently by YAML 1.1 (this preview) and YAML 1.2 (the "
            "Pulumi CLI): write the number plainly (no leading zeros or underscores), or quote it",
            node,
        )
    if tag == "tag:yaml.org,2002:float" and not _FLOAT_1_2.fullmatch(value):
        raise _Refused(
            f"{echo(value)} is a number in YAML 1.1 but a string in YAML 1.2 (the Pulumi CLI): "
            "quote it, or write the number plainly",
            node,
        )
    if tag == "tag:yaml.org,2002:str" and (
        _INTEGER_1_2.fullmatch(value) or _FLOAT_1_2.fullmatch(value)
    ):
        raise _Refused(
            f"{echo(value)} is a string in YAML 1.1 (this preview) but a number in YAML 1.2 "
            "(the Pulumi CLI): quote it, or write the number plainly",
            node,
        )


def shorten_plain(value: str) -> str:
    """``value`` for a quoting example in a message: short, on one line."""
    return echo(value, 40)[1:-1] if len(value) <= 40 else echo(value, 40)


class _Loader(_Composer, _Constructor, Resolver, CParser):  # type: ignore[misc]
    """libyaml's scanner and parser (C: fast, no recursion), with this module's composer and
    constructor on top."""

    def __init__(self, stream: str):
        CParser.__init__(self, stream)
        _Composer.__init__(self)
        _Constructor.__init__(self)
        Resolver.__init__(self)


def _load(text: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return loader.construct_document(node)
    finally:
        loader.dispose()
