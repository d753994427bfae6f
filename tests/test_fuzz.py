"""Property tests on hostile and random input: pconf answers with a result or a ConfigError, never anything else.

Documents are built from the schema's own field metadata (types, bounds, choices), mixed with wrong types,
extreme numbers and unknown keys; the examples are mutated byte by byte. Every suite runs 2,000 examples in
the ci profile (``PCONF_TEST_PROFILE=ci``), 200 in the default dev profile (``tests/profiles.py``).

- ``compile_dict`` returns or raises ``ConfigError``; a compiled document prints, hashes and plans (or refuses
  to plan with a ConfigError);
- ``pconf validate`` on the same documents written as TOML or YAML files exits 0 or 2, without a traceback;
- mutations of every file under ``examples/`` (a line dropped or doubled, a value of another type, the file
  cut short, random bytes) exit 0 or 2, without a traceback;
- compiling is deterministic: the same document twice gives the same ``to_dict()`` and the same JSON bytes,
  also in fresh processes with different ``PYTHONHASHSEED``;
- the TOML and the YAML rendering of one document compile to the same result and graph hash, or fail with the
  same problems.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import tomli_w
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pconf
from pconf.cli import main
from pconf.emit.document import render
from pconf.schema import Document, info
from pconf.schema.parallel import MAX_PARALLEL_SIZE
from tests.profiles import examples

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*") if p.suffix in (".toml", ".yaml", ".yml"))
#: Every suite's example count in the ci profile (the issue asks for at least 2,000 each).
EXAMPLES_PER_SUITE = 2000
FUZZ = settings(max_examples=examples(EXAMPLES_PER_SUITE), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
#: Plans of more ranks than this are not laid out here (each takes milliseconds); tests/corpus covers the limit.
PLAN_RANKS = 256

# -- strategies from the schema ---------------------------------------------------------------------------------


def _leaves(cls: type[Any] = Document, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, attrs attribute) of every key of the format, tables and lists of tables included as their own keys."""
    for a in attrs.fields(cls):
        union = typing.get_origin(a.type) in (typing.Union, types.UnionType)
        options = (a.type, *typing.get_args(a.type)) if union else (a.type,)
        nested = [t for t in options if isinstance(t, type) and attrs.has(t)]
        if nested:
            yield (*prefix, a.name), a
            yield from _leaves(nested[0], (*prefix, a.name))
        else:
            yield (*prefix, a.name), a


LEAVES = dict(_leaves())
PATHS = sorted(LEAVES)
UNKNOWN = [("parallel", "world_size"), ("parallel", "tensor_paralel_size"), ("parallel", "_coord_store_port"),
           ("cluster", "gpus"), ("paralel",), ("parallel", "eplb_config", "window"), ("extra", "x")]
#: Integers at and around every boundary pconf knows, and past 64 bits.
EXTREME_INTS = [-(1 << 63) - 1, -(1 << 63), -(1 << 31), -2, -1, 0, 1, 2, 3, 8, 1 << 16, (1 << 16) + 1, 65535,
                65536 + 29500, (1 << 31), (1 << 63) - 1, 1 << 63, 10 ** 30]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=12),
    st.sampled_from(EXTREME_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 2.0, 4.0, -1.0]),
    st.text(max_size=6),
    st.sampled_from(["", "auto", "mp", "ray", "uni", "external_launcher", "pkg.mod.Cls", "0-3", "3-0", "0,2,4-7",
                     "a\u0000b", "x\ny", "\x1b[31m", "true", "8", "yes", "nan", "1" * 30]),
)
ANY_VALUE = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=6)


def _base(a: Any) -> tuple[Any, bool]:
    """A field's type without ``None``, and whether it may be null."""
    args = typing.get_args(a.type)
    optional = type(None) in args and typing.get_origin(a.type) in (typing.Union, types.UnionType)
    return (next(t for t in args if t is not type(None)) if optional else a.type), optional


def valid_values(a: Any) -> st.SearchStrategy[Any]:
    """Values of a field's own type that pass its single-key checks (rules across keys may still refuse)."""
    meta = info(a)
    base, optional = _base(a)
    origin = typing.get_origin(base)
    values: st.SearchStrategy[Any]
    if isinstance(base, type) and attrs.has(base):
        values = st.fixed_dictionaries({})
    elif base is int:
        low = meta.ge if meta.ge is not None else (meta.gt + 1 if meta.gt is not None else -3)
        values = st.integers(low, low + 9)
    elif base is bool:
        values = st.booleans()
    elif meta.choices:
        choices: list[Any] = list(meta.choices)
        if origin in (typing.Union, types.UnionType):
            choices += [True, False]
        if meta.open_choices:
            choices.append("my.pkg.Executor")
        values = st.sampled_from(choices)
    elif base is str:
        values = st.sampled_from(["0-3", "0,2", "10.0.0.1", "auto", "my.pkg.Worker", "", "a b"]) if meta.check \
            is None else st.sampled_from(["0-3", "4-7", "0,2,4-6", ""])
    elif origin is tuple and typing.get_args(base)[0] is int:
        values = st.lists(st.integers(0, 3), min_size=1, max_size=4)
    elif origin is tuple and typing.get_args(base)[0] is str:
        values = st.lists(st.sampled_from(["0-3", "4-7", "8,10"]), min_size=1, max_size=4)
    elif origin is tuple:  # a list of tables (topology nodes)
        values = st.lists(st.fixed_dictionaries({"id": st.integers(0, 3), "cpus": st.sampled_from(["0-3", "4-7", ""])}),
                          max_size=3)
    else:  # a free-form table (ray_runtime_env)
        values = st.dictionaries(st.sampled_from(["env_vars", "pip", "a"]),
                                 st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans()), max_size=2)
    return st.one_of(values, st.none()) if optional else values


VALID = {path: valid_values(a) for path, a in LEAVES.items()}


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


@st.composite
def documents(draw: st.DrawFn, hostile: bool = True) -> dict[str, Any]:
    """A document of a few keys: mostly valid values of each key's type; with ``hostile``, one time in four a
    value of any type or size, and now and then an unknown key."""
    doc: dict[str, Any] = {}
    pool = PATHS + UNKNOWN if hostile else PATHS
    for path in draw(st.lists(st.sampled_from(pool), max_size=6, unique=True)):
        strategy = VALID.get(path, ANY_VALUE)
        value = draw(st.one_of(strategy, strategy, strategy, ANY_VALUE) if hostile else strategy)
        _put(doc, path, value)
    if hostile and draw(st.integers(0, 9)) == 0:  # a key of any name, in a section or at the top
        section = draw(st.sampled_from([(), ("parallel",), ("cluster", "topology")]))
        _put(doc, (*section, draw(st.text(min_size=1, max_size=6))), draw(SCALARS))
    return doc


OVERRIDE_TEXT = st.one_of(
    st.builds(lambda k, v: f"{'.'.join(k)}={v}", st.sampled_from(PATHS + UNKNOWN),
              st.one_of(st.text(max_size=8), st.sampled_from(["4", "-1", "true", "[0, 1]", "{a = 1}", "1e400",
                                                              "9" * 25, "\"a\\u0000b\"", "!!python/name:os.system",
                                                              "&a [*a]", "[" * 40 + "]" * 40, "null", "~"]))),
    st.builds(lambda k: f"~{'.'.join(k)}", st.sampled_from(PATHS)),
    st.text(max_size=12),
)
ENVS = st.one_of(st.none(), st.dictionaries(
    st.sampled_from(["VLLM_DP_SIZE", "VLLM_DP_RANK", "VLLM_DP_RANK_LOCAL", "VLLM_DP_MASTER_PORT", "RANK",
                     "VLLM_BATCH_INVARIANT", "VLLM_XLA_USE_SPMD", "VLLM_DP_MASTER_IP"]),
    st.one_of(st.sampled_from(["0", "1", "2", "-1", "4", "x", "", "99999999999999999999"]), st.text(max_size=3)),
    max_size=3))


def exercise(compiled: pconf.Compiled) -> None:
    """Everything a command does with a compiled document: print it, hash it, explain a key, plan it."""
    doc = compiled.to_dict()
    for fmt in ("json", "yaml"):
        render(doc, fmt)
    with contextlib.suppress(pconf.ConfigError):  # a list holding null cannot be written as TOML
        render(doc, "toml")
    str(compiled.graph_hash)
    compiled.explain("parallel.tensor_parallel_size")
    if compiled.resolved.derived.world_size_across_dp <= PLAN_RANKS:
        with contextlib.suppress(pconf.ConfigError):
            plan = compiled.plan()
            plan.env(0)
            plan.to_dict()


# -- compile_dict ---------------------------------------------------------------------------------------------------


class TestCompileDict:
    @FUZZ
    @given(documents(), st.lists(OVERRIDE_TEXT, max_size=2), ENVS)
    @example({"parallel": {"tensor_parallel_size": 10 ** 5000}}, [], None)
    @example({"parallel": {"ray_runtime_env": {1: 2}}}, [], None)
    @example({"parallel": {"numa_bind": True, "numa_bind_cpus": ["1" * 5000]}}, [], None)
    @example({"parallel": {"tensor_parallel_size": MAX_PARALLEL_SIZE + 1}}, ["parallel.nnodes=" + "9" * 5000], None)
    def test_result_or_config_error(self, doc: dict[str, Any], overrides: list[str],
                                    env: dict[str, str] | None) -> None:
        """A random document (with random overrides and environment) compiles or raises ConfigError."""
        try:
            compiled = pconf.compile_dict(doc, env=env, overrides=overrides)
        except pconf.ConfigError as exc:
            issues = exc.issues
        else:
            exercise(compiled)
            return
        assert issues
        for line in (issue.render() for issue in issues):  # one line each, nothing for the terminal to run
            assert not set(line) & {"\n", "\r", "\x1b", "\x00"}, line


# -- pconf validate on files ------------------------------------------------------------------------------------------


def _no_none(value: Any) -> Any:
    """The value without nulls, which TOML cannot write (keys holding null are dropped, list items too)."""
    if isinstance(value, dict):
        return {k: _no_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_none(v) for v in value if v is not None]
    return value


def write_toml(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(tomli_w.dumps(_no_none(doc)), encoding="utf-8")


#: The characters YAML reads as line breaks besides \n and \r: NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR.
YAML_BREAKS = "\x85\u2028\u2029"


class _Dumper(yaml.SafeDumper):
    """PyYAML's SafeDumper, except that a string holding one of YAML_BREAKS is written double-quoted, with the
    break escaped (\\N, \\L, \\P). The pure-Python emitter writes a NEL raw in a single-quoted scalar without
    doubling it, so it reads back folded into a space (``'x\\x85'`` came back as ``'x '``); LS and PS survive
    today, but YAML reads them as breaks too. (libyaml's emitter, which pconf's own YAML output uses, escapes
    NEL.)"""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(c in value for c in YAML_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def write_yaml(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False), encoding="utf-8")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``pconf ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_clean_exit(code: int, err: str, allowed: frozenset[int] = frozenset({0, 2})) -> None:
    assert code in allowed, err
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    if code == 2:
        assert err.endswith(("error\n", "errors\n")), err


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the files of one suite (hypothesis runs many examples in one test call)."""
    return tmp_path_factory.mktemp("fuzz")


class TestValidateFiles:
    @FUZZ
    @given(documents(), st.sampled_from(["toml", "yaml"]))
    def test_exit_0_or_2(self, scratch: Path, doc: dict[str, Any], fmt: str) -> None:
        """A random document written as a TOML or YAML file validates with exit 0 or 2 and no traceback."""
        path = scratch / f"cluster.{fmt}"
        try:
            (write_toml if fmt == "toml" else write_yaml)(path, doc)
        except (TypeError, ValueError):  # tomli_w cannot write every Python value (nan keys, mixed nulls)
            write_yaml(path := scratch / "cluster.yaml", doc)
        code, _, err = run_cli(["validate", str(path)])
        assert_clean_exit(code, err)


# -- mutations of the examples -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/ to mutate (the layered files extend each other by relative path)."""
    dest = tmp_path_factory.mktemp("examples") / "examples"
    shutil.copytree(ROOT / "examples", dest)
    return dest


_TOKENS = ["", "0", "-1", "true", "[]", "{}", '"x"', "1.5", "nan", "9" * 30, "[[[[", "]]", "{a=", '"""', "'",
           "\\", "&a", "*a", "<<: *a", "!!python/object:os.system", "- ", "? ", ":", "=", "#", "\t", "\u0000",
           "é", "\ufeff", "[parallel]", "extends = [\"cluster.toml\"]", "extends: [cluster.yaml]",
           # hostile values: deep nesting (past Python's recursion and libyaml's C stack), huge integers, NUL
           # escapes, recursive anchors, tags
           "[" * 40 + "]" * 40, "[" * 3000 + "]" * 3000, "[" * 60000, "- " * 3000 + "1", "{a = " * 500 + "1",
           "9" * 5000, "-" + "9" * 20, "0x" + "f" * 40, '"a\\u0000b"', '"a\\0b"', "&x [*x]", "&y {<<: *y}",
           "!!binary aGk=", "!!int 12x", "2001-13-45", "1979-05-27T07:32:00Z"]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[Path, bytes]:
    """An example file and a mutation of its bytes."""
    path = draw(st.sampled_from(EXAMPLES))
    data = path.read_bytes()
    lines = data.split(b"\n")
    kind = draw(st.sampled_from(["drop", "double", "value", "truncate", "insert", "replace", "swap"]))
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "drop":
        del lines[i]
    elif kind == "double":
        lines.insert(i, lines[i])
    elif kind == "value":  # the value of a `key = value` / `key: value` line becomes another token
        line = lines[i]
        cut = max(line.find(b"="), line.find(b":"))
        if cut >= 0:
            lines[i] = line[: cut + 1] + b" " + draw(st.sampled_from(_TOKENS)).encode()
    elif kind == "swap":
        j = draw(st.integers(0, max(len(lines) - 1, 0)))
        lines[i], lines[j] = lines[j], lines[i]
    mutated = b"\n".join(lines)
    if kind == "truncate":
        mutated = data[: draw(st.integers(0, len(data)))]
    elif kind == "insert":
        at = draw(st.integers(0, len(data)))
        junk = draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(_TOKENS).map(str.encode)))
        mutated = data[:at] + junk + data[at:]
    elif kind == "replace":
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        mutated = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at + 1:]
    return path, mutated


class TestMutatedExamples:
    @FUZZ
    @given(mutations())
    def test_exit_0_or_2(self, examples_copy: Path, mutation: tuple[Path, bytes]) -> None:
        """A mutated example validates with exit 0 or 2, and plans or refuses to, without a traceback."""
        original, data = mutation
        target = examples_copy / original.relative_to(ROOT / "examples")
        saved = target.read_bytes()
        target.write_bytes(data)
        try:
            code, _, err = run_cli(["validate", str(target)])
            assert_clean_exit(code, err)
            if code == 0:
                with contextlib.suppress(pconf.ConfigError):
                    exercise(pconf.compile_files([target]))
        finally:
            target.write_bytes(saved)


# -- determinism -----------------------------------------------------------------------------------------------------


class TestDeterminism:
    @FUZZ
    @given(documents(hostile=False))
    def test_same_document_same_bytes(self, doc: dict[str, Any]) -> None:
        """Compiling a document twice gives the same to_dict() and the same JSON bytes (or the same errors)."""
        outcomes: list[tuple[str, Any]] = []
        for _ in range(2):
            try:
                compiled = pconf.compile_dict(doc)
            except pconf.ConfigError as exc:
                outcomes.append(("error", [i.render() for i in exc.issues]))
            else:
                outcomes.append(("ok", render(compiled.to_dict(), "json")))
        assert outcomes[0] == outcomes[1]

    @pytest.mark.parametrize("path", ["examples/cluster.toml", "examples/layered/prod.yaml"])
    def test_hash_seed_does_not_matter(self, path: str) -> None:
        """Fresh processes with different PYTHONHASHSEED print byte-identical compiled documents."""
        outs = set()
        for seed in ("0", "1", "4242"):
            env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
            done = subprocess.run([sys.executable, "-m", "pconf", "compile", path], capture_output=True, cwd=ROOT,
                                  env=env, timeout=60, check=True)
            outs.add(done.stdout)
        assert len(outs) == 1


# -- TOML and YAML renderings -----------------------------------------------------------------------------------------


def _outcome(path: Path) -> tuple[str, Any]:
    """What compiling one file gives: its document without ``sources`` and its hash, or its problems."""
    try:
        compiled = pconf.compile_files([path])
    except pconf.ConfigError as exc:
        return "error", sorted((i.rule, i.key) for i in exc.issues)
    doc = compiled.to_dict()
    del doc["sources"]
    return "ok", (doc, str(compiled.graph_hash))


def _finite(value: Any) -> bool:
    """No NaN anywhere (NaN != NaN would make equal documents compare unequal)."""
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return not (isinstance(value, float) and math.isnan(value))


class TestTomlYamlAgree:
    @FUZZ
    @given(documents(hostile=False))
    @example({"parallel": {"ray_runtime_env": {"pip": "x\x85"}}})  # NEL: once read back from the YAML as "x "
    @example({"parallel": {"ray_runtime_env": {"a": "\x85\n", "pip": "\u2028\u2029"}}})
    def test_same_result_and_hash(self, scratch: Path, doc: dict[str, Any]) -> None:
        """The TOML and the YAML rendering of a document compile alike: same document and hash, or same errors."""
        doc = _no_none(doc)
        assert _finite(doc)
        toml_path, yaml_path = scratch / "same.toml", scratch / "same.yaml"
        write_toml(toml_path, doc)
        write_yaml(yaml_path, doc)
        assert _outcome(toml_path) == _outcome(yaml_path)

    @pytest.mark.parametrize("text", ["\x85", "x\x85", "\x85\n", "a\u2028b", "\u2029", "\x85 \u2028\n\u2029x"])
    def test_yaml_line_breaks_written_back_exactly(self, tmp_path: Path, text: str) -> None:
        """Strings holding NEL, LS or PS (line breaks to YAML) survive write_yaml and pconf's YAML reader, in a
        value and in a key."""
        path = tmp_path / "breaks.yaml"
        write_yaml(path, {"parallel": {"ray_runtime_env": {"env_vars": {text: text}}}})
        env = pconf.compile_files([path]).to_dict()["parallel"]["ray_runtime_env"]
        assert env == {"env_vars": {text: text}}
