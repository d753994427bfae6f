"""Read cluster files and overrides into Layers: TOML or YAML, ``extends`` chains, ``reset`` lists.

The only module that reads config files. Every problem is collected as an Issue; ``load_layers`` raises
one LoadError holding all of them.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pconf.errors import Issue, LoadError, Location
from pconf.keypath import KeyPath, parse_dotted
from pconf.load.files import NotRegularFile, read_bounded
from pconf.load.layer import MAX_FILE_BYTES, MAX_LAYERS, Layer, locate
from pconf.load.overrides import overrides_layer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["STDIN", "STDIN_FORMATS", "Layer", "load_layers", "locate", "read_layer", "sniff_format"]

TOML_SUFFIXES = (".toml",)
YAML_SUFFIXES = (".yaml", ".yml")


#: The path that names standard input, and how messages name it.
STDIN, STDIN_NAME = "-", "<stdin>"
STDIN_FORMATS = ("toml", "yaml")


def load_layers(paths: Sequence[str | os.PathLike[str]], overrides: Iterable[str] = (),
                stdin_format: str | None = None) -> tuple[Layer, ...]:
    """Load files left to right (each after its ``extends`` chain), then the ``--set`` overrides.

    The path ``-`` is standard input (``<stdin>`` in messages, its ``extends`` relative to the working directory),
    TOML or YAML (JSON too) as ``stdin_format`` says, else as its content shows (``sniff_format``); it is read once
    per process, so ``-`` twice names the same document.
    """
    layers: list[Layer] = []
    issues: list[Issue] = []
    for path in paths:
        _load_chain(Path(path), os.fspath(path), (), Location.argument("<command line>"), layers, issues,
                    stdin_format=stdin_format)
    layer, set_issues = overrides_layer(overrides)
    issues.extend(set_issues)
    if issues:
        raise LoadError(issues)
    if layer.data or layer.resets:
        layers.append(layer)
    return tuple(layers)


def read_layer(text: str, source: str, suffix: str) -> tuple[dict[str, Any], dict[KeyPath, Location]] | Issue:
    """Parse one document's text by its file suffix."""
    if suffix in TOML_SUFFIXES:
        from pconf.load.toml import parse_toml

        return parse_toml(text, source)
    from pconf.load.yaml import parse_yaml

    return parse_yaml(text, source)


def _load_chain(path: Path, display: str, stack: tuple[tuple[str, str], ...], cited: Location,
                layers: list[Layer], issues: list[Issue], cited_key: KeyPath = (), *,
                stdin_format: str | None = None) -> None:
    """Append the layers of ``path``: its ``extends`` files first (depth first, in order), then itself.

    ``stack`` holds (real path, shown name) of the files whose ``extends`` led here, to name a cycle; ``cited``
    and ``cited_key`` say where the file was named (an ``extends`` entry, or the command line).
    """
    if "\x00" in str(path):  # only the Python API can pass one; the OS would refuse it
        issues.append(Issue(cited_key, cited if cited.is_file else Location.file(display), "load.file",
                            f"{display!r} is not a file name: it holds a NUL character", hint="check the path"))
        return
    stdin = display == STDIN and not stack
    if stdin:
        display = STDIN_NAME
    real = STDIN_NAME if stdin else os.path.realpath(path)
    reals = [r for r, _ in stack]
    if real in reals:
        names = [shown for _, shown in stack[reals.index(real):]] + [display]
        issues.append(Issue(("extends",), cited, "load.extends_cycle",
                            "extends cycle: " + " -> ".join(names), hint="remove one of the extends entries"))
        return
    if len(layers) + len(stack) >= MAX_LAYERS:
        if not any(i.rule == "load.too_many_layers" for i in issues):  # once: a wide extends list says it once
            issues.append(Issue(("extends",), cited, "load.too_many_layers",
                                f"more than {MAX_LAYERS} layers", hint="flatten the extends chain"))
        return
    parsed = _read_stdin(stdin_format) if stdin else _read(path, real, display, cited, cited_key)
    if isinstance(parsed, Issue):
        issues.append(parsed)
        return
    data, where = parsed
    extends = _take_list(data, where, "extends", display, issues)
    reset_keys = _take_list(data, where, "reset", display, issues)
    resets: list[tuple[KeyPath, Location]] = []
    for i, key in reset_keys:
        key_path = parse_dotted(key)
        loc = locate(where, ("reset", i), Location.file(display))
        if key_path is None:
            issues.append(Issue(("reset", i), loc, "load.reset_key", f"`{key}` is not a dotted key",
                                hint="write e.g. reset = [\"parallel.tensor_parallel_size\"]"))
        else:
            resets.append((key_path, loc._replace(detail="reset")))
    if extends:
        here = (*stack, (real, display))
        for i, entry in extends:
            cited_here = locate(where, ("extends", i), Location.file(display))
            if not entry.strip():
                issues.append(Issue(("extends", i), cited_here, "load.extends_type", "an `extends` entry is empty",
                                    got=entry, hint="name a file, e.g. extends = [\"base.toml\"]"))
                continue
            shown = os.path.normpath(os.path.join(os.path.dirname(display), entry))
            _load_chain(path.parent / entry, shown, here, cited_here, layers, issues, ("extends", i))
        for key in ("extends", "reset"):
            for p in [p for p in where if p and p[0] == key]:
                del where[p]
    elif reset_keys:
        for p in [p for p in where if p and p[0] == "reset"]:
            del where[p]
    layers.append(Layer(display, data, where, tuple(resets)))


def _read(path: Path, real: str, display: str, cited: Location,
          key: KeyPath = ()) -> tuple[dict[str, Any], dict[KeyPath, Location]] | Issue:
    """Read and parse one file (``real``: its real path); an Issue (located where the file was named, at
    ``key``) if that fails.

    Only a regular file is read, and at most MAX_FILE_BYTES of it (``read_bounded``). A symbolic link is
    followed, but what it leads to must have a cluster-file suffix too.
    """
    at = cited if cited.is_file else Location.file(display)
    if path.suffix not in TOML_SUFFIXES + YAML_SUFFIXES:
        hint = "use .toml, .yaml or .yml"
        if path.suffix == ".json":  # JSON is YAML, but a .json file is not read: a link could reach credentials
            hint += " (JSON, such as `pconf compile` prints, is YAML: name it .yaml" + (")" if key else
                                                                                        ", or pipe it to -)")
        return Issue(key, at, "load.file", f"{display}: unknown file type {path.suffix or '(none)'!r}", hint=hint)
    suffix = os.path.splitext(real)[1]  # the format of the file a link leads to
    if suffix not in TOML_SUFFIXES + YAML_SUFFIXES:
        return Issue(key, at, "load.file", f"{display} is a link to {_shown(real)}, which is not a cluster file",
                     hint="link to a .toml, .yaml or .yml file, or name the file itself")
    try:
        raw = read_bounded(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        return Issue(key, at, "load.file", f"no such file: {display}", hint="check the path")
    except NotRegularFile as exc:
        if exc.kind == "a directory":
            return Issue(key, at, "load.file", f"{display} is a directory, not a cluster file", hint="name a file")
        return Issue(key, at, "load.file", f"{display} is {exc.kind}, not a regular file",
                     hint="name a cluster file; pconf does not read pipes or devices")
    except OSError as exc:
        return Issue(key, at, "load.file", f"cannot read {display}: {exc.strerror}",
                     hint="check the path and its permissions")
    text = _decode(raw, display)
    if isinstance(text, Issue):
        return text
    return read_layer(text, display, suffix)


def _decode(raw: bytes, display: str) -> str | Issue:
    """A cluster file's bytes as text (without a byte-order mark), or the Issue that says why not."""
    if len(raw) > MAX_FILE_BYTES:
        return Issue((), Location.file(display), "load.file_too_large",
                     f"the file is larger than {MAX_FILE_BYTES // 1024} KiB", hint="a cluster file is small")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        start = raw.rfind(b"\n", 0, exc.start) + 1
        col = len(raw[start : exc.start].decode("utf-8", errors="replace")) + 1  # characters, like every column
        return Issue((), Location.file(display, line, col), "load.encoding", "the file is not valid UTF-8",
                     hint="save it as UTF-8")
    if "\x00" in text:
        at_nul = text.index("\x00")
        line = text.count("\n", 0, at_nul) + 1
        return Issue((), Location.file(display, line, at_nul - text.rfind("\n", 0, at_nul)), "load.nul",
                     "the file contains a NUL character", hint="remove it")
    return text.removeprefix("\ufeff")


_stdin_cache: list[tuple[object, bytes | OSError]] = []


def _stdin_bytes() -> bytes | OSError:
    """Standard input's bytes (at most MAX_FILE_BYTES + 1), read once per ``sys.stdin`` object."""
    stream = sys.stdin
    if not _stdin_cache or _stdin_cache[0][0] is not stream:
        try:
            buffer = getattr(stream, "buffer", None)
            data = buffer.read(MAX_FILE_BYTES + 1) if buffer is not None else \
                stream.read(MAX_FILE_BYTES + 1).encode("utf-8")
        except OSError as exc:
            data = exc
        _stdin_cache[:] = [(stream, data)]
    return _stdin_cache[0][1]


def _read_stdin(fmt: str | None) -> tuple[dict[str, Any], dict[KeyPath, Location]] | Issue:
    """Read and parse standard input as ``fmt`` (``toml``, ``yaml``), else as its content shows."""
    raw = _stdin_bytes() if sys.stdin is not None else OSError("no standard input")
    if isinstance(raw, OSError):
        return Issue((), Location.file(STDIN_NAME), "load.file", f"cannot read standard input: {raw}",
                     hint="pipe a cluster file into pconf, or name the file")
    text = _decode(raw, STDIN_NAME)
    if isinstance(text, Issue):
        return text
    fmt = fmt or sniff_format(text)
    return read_layer(text, STDIN_NAME, ".toml" if fmt == "toml" else ".yaml")


#: A TOML key (bare, quoted or dotted) and its ``=``: how a line that starts a TOML key/value pair begins.
_TOML_PART = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
_TOML_KEY = re.compile(rf"{_TOML_PART}(?:\s*\.\s*{_TOML_PART})*\s*=")


def sniff_format(text: str) -> str:
    """``toml`` or ``yaml``: what a document is, from its first line that is not blank or a comment (a TOML table
    header or ``key =``; YAML's ``key:``, ``---``, ``- `` or a JSON/flow ``{``); when that line says neither,
    TOML if the text parses as TOML, else YAML."""
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith(("---", "%", "{", "- ")) or s == "-":
            return "yaml"
        if s.startswith("[") or _TOML_KEY.match(s):
            return "toml"
        if re.match(r"[^\s:#][^:#]*:(\s|$)", s) or re.match(r"(\"[^\"]*\"|'[^']*')\s*:", s):
            return "yaml"
        break
    try:
        tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return "yaml"
    return "toml"


def _shown(real: str) -> str:
    """A real path as messages show it: relative when it lies below the working directory."""
    try:
        relative = os.path.relpath(real)
    except ValueError:  # another drive (Windows)
        return real
    return real if relative.startswith(os.pardir) else relative


def _take_list(data: dict[str, Any], where: dict[KeyPath, Location], key: str, display: str,
               issues: list[Issue]) -> list[tuple[int, str]]:
    """Pop a top-level string-or-list-of-strings key (``extends``, ``reset``); issues for other shapes."""
    if key not in data:
        return []
    value = data.pop(key)
    items = [value] if isinstance(value, str) else value
    loc = locate(where, (key,), Location.file(display))
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        issues.append(Issue((key,), loc, f"load.{key}_type", f"`{key}` must be a string or a list of strings",
                            got=value, hint=f'write {key} = ["..."]'))
        return []
    return list(enumerate(items))
