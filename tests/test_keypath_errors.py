"""Key paths (format_path, parse_dotted), locations, issues and ConfigError: the text users read."""

from __future__ import annotations

import copy
import datetime
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pconf
from pconf.errors import (
    DEFAULT,
    MISSING,
    ConfigError,
    Issue,
    LoadError,
    Location,
    PconfError,
    RuleError,
    SchemaError,
    did_you_mean,
    show_value,
)
from pconf.keypath import KeyPath, format_path, parse_dotted

BARE = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)


class TestFormatPath:
    def test_bare_keys_join_with_dots(self) -> None:
        """Bare keys are joined with dots, as users write them."""
        assert format_path(("parallel", "eplb_config", "window_size")) == "parallel.eplb_config.window_size"

    def test_single_key(self) -> None:
        """A one-key path is the key itself."""
        assert format_path(("parallel",)) == "parallel"

    def test_indices_in_brackets(self) -> None:
        """List indices are written in brackets, without a dot."""
        assert format_path(("parallel", "numa_bind_cpus", 2)) == "parallel.numa_bind_cpus[2]"

    def test_key_after_index(self) -> None:
        """A key after an index takes a dot again."""
        assert format_path(("x", 2, "y")) == "x[2].y"

    def test_leading_index(self) -> None:
        """A path that starts with an index starts with the bracket."""
        assert format_path((3, "a")) == "[3].a"

    def test_empty_path_is_the_document(self) -> None:
        """The empty path names the whole document."""
        assert format_path(()) == "<document>"

    def test_key_with_space_is_quoted(self) -> None:
        """A key that is not bare is double-quoted."""
        assert format_path(("parallel", "tensor parallel")) == 'parallel."tensor parallel"'

    def test_key_with_dot_is_quoted(self) -> None:
        """A key containing a dot is quoted, so it does not read as two keys."""
        assert format_path(("a.b", "c")) == '"a.b".c'

    def test_quote_and_backslash_are_escaped(self) -> None:
        """Double quotes and backslashes inside a quoted key are backslash-escaped."""
        assert format_path(('a"b',)) == '"a\\"b"'
        assert format_path(("a\\b",)) == '"a\\\\b"'

    def test_empty_key_is_quoted(self) -> None:
        """An empty key renders as an empty quoted string."""
        assert format_path(("parallel", "")) == 'parallel.""'

    def test_non_ascii_key_is_quoted(self) -> None:
        """A key with a non-ASCII letter is not bare and is quoted."""
        assert format_path(("é",)) == '"é"'

    def test_dashes_digits_and_underscores_are_bare(self) -> None:
        """Dashes, digits and underscores are bare-key characters."""
        assert format_path(("x-y_z", "0")) == "x-y_z.0"

    def test_newline_in_key_is_escaped(self) -> None:
        """A newline inside a quoted key is escaped, keeping the path on one line."""
        assert format_path(("a\nb",)) == '"a\\nb"'

    def test_control_character_is_escaped(self) -> None:
        """Control characters are escaped the JSON way."""
        assert format_path(("x", "a\tb\x01")) == 'x."a\\tb\\u0001"'


class TestParseDotted:
    def test_dotted_key(self) -> None:
        """A dotted key splits at its dots."""
        assert parse_dotted("parallel.eplb_config.window_size") == ("parallel", "eplb_config", "window_size")

    def test_single_key(self) -> None:
        """A key without dots is a one-element path."""
        assert parse_dotted("parallel") == ("parallel",)

    def test_surrounding_whitespace_is_ignored(self) -> None:
        """Whitespace around the whole key is stripped."""
        assert parse_dotted("  parallel.nnodes \n") == ("parallel", "nnodes")

    def test_numeric_segment_stays_a_string(self) -> None:
        """A numeric segment is a string key, never a list index."""
        assert parse_dotted("a.1") == ("a", "1")

    @pytest.mark.parametrize(
        "text", ["", ".", "a..b", "a.", ".a", "a b", "a .b", "a\t.b", '"a b".c', "é", "a.b=1", "~a"]
    )
    def test_malformed_keys_are_none(self, text: str) -> None:
        """Empty segments, spaces, quotes and other non-bare characters make the key malformed."""
        assert parse_dotted(text) is None

    @given(st.lists(BARE, min_size=1, max_size=5))
    def test_round_trips_bare_paths(self, parts: list[str]) -> None:
        """Formatting a bare path and parsing it back gives the same path."""
        path: KeyPath = tuple(parts)
        assert parse_dotted(format_path(path)) == path


class TestLocationStr:
    def test_file_line_col(self) -> None:
        """A file position renders as FILE:LINE:COL."""
        assert str(Location.file("conf/a.toml", 3, 7)) == "conf/a.toml:3:7"

    def test_file_line_without_col(self) -> None:
        """A position without a column renders as FILE:LINE."""
        assert str(Location.file("a.yaml", 12)) == "a.yaml:12"

    def test_file_without_line(self) -> None:
        """A file without a position renders as the file name."""
        assert str(Location.file("a.toml")) == "a.toml"

    def test_position_wins_over_detail(self) -> None:
        """A file position ignores the detail (a reset entry still reads FILE:LINE:COL)."""
        assert str(Location.file("dev.toml", 4, 1, "reset")) == "dev.toml:4:1"

    def test_set_override(self) -> None:
        """A --set location shows the override text."""
        assert str(Location.override("parallel.tensor_parallel_size=8")) == (
            "--set parallel.tensor_parallel_size=8"
        )

    def test_env_variable(self) -> None:
        """An env location is env:NAME."""
        assert str(Location.env("VLLM_DP_SIZE")) == "env:VLLM_DP_SIZE"

    def test_env_variable_with_detail(self) -> None:
        """An env location with a detail puts it in parentheses."""
        assert str(Location.env("VLLM_DP_RANK", "unset: vLLM's default 0")) == (
            "env:VLLM_DP_RANK (unset: vLLM's default 0)"
        )

    def test_derived(self) -> None:
        """A derived location reads `derived: <rule>`."""
        assert str(Location.derived("a single worker")) == "derived: a single worker"

    def test_default(self) -> None:
        """The default location reads `default`."""
        assert str(DEFAULT) == "default"
        assert Location("default") == DEFAULT

    def test_is_file(self) -> None:
        """Only a location with a line is a file position."""
        assert Location.file("a.toml", 1, 1).is_file
        assert not Location.file("a.toml").is_file
        assert not Location.override("x=1").is_file


class TestShowValue:
    @pytest.mark.parametrize(
        ("value", "shown"),
        [(True, "true"), (None, "null"), ("2", '"2"'), (2.0, "2.0"), ([0, "1"], '[0, "1"]'),
         ({"a": 1}, '{"a": 1}'), ("é", '"é"')],
    )
    def test_json_spelling(self, value: object, shown: str) -> None:
        """Values are shown in JSON spelling, as a config file writes them."""
        assert show_value(value) == shown

    def test_long_values_are_cut(self) -> None:
        """A rendering longer than 80 characters is cut to 77 plus an ellipsis."""
        assert show_value("x" * 100) == '"' + "x" * 76 + "..."

    def test_dates_as_written(self) -> None:
        """A date or time (YAML and TOML have them) is shown as it is written in a file."""
        assert show_value(datetime.date(2001, 1, 2)) == "2001-01-02"
        assert show_value(datetime.datetime(2001, 1, 2, 3, 4)) == "2001-01-02T03:04:00"

    def test_non_json_values_use_repr(self) -> None:
        """Another value JSON cannot write (from compile_dict) is shown with repr."""
        assert show_value({1, 2}) == "{1, 2}"


class TestIssueRender:
    def test_full_line(self) -> None:
        """An issue renders as FILE:LINE:COL: key: message (got X); hint [rule]."""
        issue = Issue(("parallel", "tensor_parallel_size"), Location.file("a.toml", 2, 1), "schema.type",
                      "must be an integer", "write 2 without quotes", "2")
        assert issue.render() == (
            'a.toml:2:1: parallel.tensor_parallel_size: must be an integer (got "2"); write 2 without quotes '
            "[schema.type]"
        )

    def test_without_got(self) -> None:
        """Without a value, the `(got X)` part is left out."""
        issue = Issue(("extends",), Location.file("b.toml", 1, 1), "load.extends_cycle", "extends cycle: a -> a",
                      "remove one")
        assert issue.render() == "b.toml:1:1: extends: extends cycle: a -> a; remove one [load.extends_cycle]"

    def test_got_null(self) -> None:
        """A null value is shown as `(got null)`, not left out."""
        issue = Issue(("parallel", "nnodes"), Location.file("a.yaml", 3, 3), "schema.type",
                      "must be an integer, not null", "remove the key to use the default", None)
        assert issue.render() == (
            "a.yaml:3:3: parallel.nnodes: must be an integer, not null (got null); remove the key to use the "
            "default [schema.type]"
        )

    def test_without_hint(self) -> None:
        """Without a hint, the `; hint` part is left out."""
        issue = Issue((), Location.file("a.toml"), "load.file", "no such file: a.toml")
        assert issue.render() == "a.toml: <document>: no such file: a.toml [load.file]"

    def test_set_location_and_index(self) -> None:
        """A --set location and an indexed key render in place."""
        issue = Issue(("parallel", "numa_bind_nodes", 1), Location.override("parallel.numa_bind_nodes=[0, -1]"),
                      "numa.nodes_negative", "NUMA nodes must be non-negative", "use real nodes", -1)
        assert issue.render() == (
            "--set parallel.numa_bind_nodes=[0, -1]: parallel.numa_bind_nodes[1]: NUMA nodes must be non-negative "
            "(got -1); use real nodes [numa.nodes_negative]"
        )

    def test_warning_renders_like_an_error(self) -> None:
        """Severity does not change the rendered line (the CLI adds the `warning: ` prefix)."""
        issue = Issue(("parallel", "all2all_backend"), Location.file("a.toml", 3, 1), "all2all.deprecated",
                      "deprecated", 'write "allgather_reducescatter"', "pplx", "warning")
        assert issue.render() == (
            'a.toml:3:1: parallel.all2all_backend: deprecated (got "pplx"); write "allgather_reducescatter" '
            "[all2all.deprecated]"
        )

    def test_key_property(self) -> None:
        """`Issue.key` is the formatted path."""
        assert Issue(("x", 0), DEFAULT, "r", "m").key == "x[0]"

    def test_defaults(self) -> None:
        """An issue is an error without a value or hint unless told otherwise."""
        issue = Issue((), DEFAULT, "r", "m")
        assert (issue.hint, issue.got, issue.severity) == ("", MISSING, "error")


def _issues() -> list[Issue]:
    return [
        Issue(("parallel", "foo"), Location.file("a.toml", 3, 1), "schema.unknown_key",
              "unknown key `foo` in [parallel]", "remove it"),
        Issue(("parallel", "tensor_parallel_size"), Location.file("b.yaml", 2, 3), "schema.type", "must be an integer",
              "write 2 without quotes", "2"),
    ]


class TestConfigError:
    def test_str_lists_every_issue(self) -> None:
        """The message is every issue's rendering, one per line."""
        error = ConfigError(_issues())
        assert str(error) == (
            "a.toml:3:1: parallel.foo: unknown key `foo` in [parallel]; remove it [schema.unknown_key]\n"
            'b.yaml:2:3: parallel.tensor_parallel_size: must be an integer (got "2"); write 2 without quotes '
            "[schema.type]"
        )

    def test_issues_are_a_tuple(self) -> None:
        """The issues are kept, in order, as a tuple."""
        issues = _issues()
        error = SchemaError(issues)
        assert error.issues == tuple(issues)

    def test_hierarchy(self) -> None:
        """Every config error is a ConfigError, a PconfError and a ValueError, exported from pconf."""
        for cls in (LoadError, SchemaError, RuleError):
            assert issubclass(cls, ConfigError)
        assert issubclass(ConfigError, PconfError)
        assert issubclass(ConfigError, ValueError)
        assert (pconf.ConfigError, pconf.LoadError, pconf.SchemaError, pconf.RuleError) == (
            ConfigError, LoadError, SchemaError, RuleError)

    def test_public_module_name(self) -> None:
        """The error classes present themselves as pconf.X in tracebacks."""
        assert f"{RuleError.__module__}.{RuleError.__qualname__}" == "pconf.RuleError"

    @pytest.mark.parametrize("cls", [ConfigError, LoadError, SchemaError, RuleError])
    def test_pickles_with_type_and_issues(self, cls: type[ConfigError]) -> None:
        """A pickled error comes back as the same class with equal issues."""
        error = cls(_issues()[1:])
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is cls
        assert back.issues == error.issues
        assert str(back) == str(error)

    def test_pickle_keeps_issues_without_a_value(self) -> None:
        """An issue without a value still renders without `(got ...)` after pickling."""
        error = LoadError(_issues()[:1])
        back = pickle.loads(pickle.dumps(error))
        assert str(back) == "a.toml:3:1: parallel.foo: unknown key `foo` in [parallel]; remove it [schema.unknown_key]"

    def test_deepcopy_keeps_issues_without_a_value(self) -> None:
        """A deep copy of an issue without a value still has no value, and renders the same."""
        issue = _issues()[0]
        assert copy.deepcopy(issue).got is MISSING
        assert str(copy.deepcopy(LoadError([issue]))) == issue.render()

    def test_empty(self) -> None:
        """An error without issues has an empty message."""
        assert str(ConfigError([])) == ""


class TestDidYouMean:
    def test_close_match(self) -> None:
        """A misspelt name gets the closest choice."""
        assert did_you_mean("tensor_paralel_size", ["pipeline_parallel_size", "tensor_parallel_size"]) == (
            "did you mean `tensor_parallel_size`?"
        )

    def test_no_match(self) -> None:
        """A name close to nothing gets an empty hint."""
        assert did_you_mean("zzz", ["tensor_parallel_size"]) == ""

    def test_no_choices(self) -> None:
        """With no choices there is no hint."""
        assert did_you_mean("x", []) == ""

    def test_case_only_difference(self) -> None:
        """A name that differs only in case is pointed out as such."""
        assert did_you_mean("Tensor_Parallel_Size", ["tensor_parallel_size"]) == (
            "did you mean `tensor_parallel_size`? (names are case-sensitive)"
        )

    def test_exact_match_wins(self) -> None:
        """An exact match beats a near one, and any iterable of choices works."""
        assert did_you_mean("abc", iter(["abd", "abc"])) == "did you mean `abc`?"
