"""Faults of input met as users meet them: FIFOs and links under ``--sysfs-root``, misspelt reset keys, TOML that
ends inside a value, YAML line breaks pconf does not count, and 50,000 mistakes in one file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pconf
from tests.helpers import call, write

ROOT = Path(__file__).resolve().parent.parent
HOST = ROOT / "tests" / "data" / "sysfs" / "host-1node"


pytestmark = pytest.mark.usefixtures("in_tmp")


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pconf", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


class TestSysfsRoot:
    def tree(self) -> Path:
        root = Path("root")
        shutil.copytree(HOST, root, symlinks=True)
        return root

    def test_fifo_is_refused_not_waited_on(self) -> None:
        """A FIFO where sysfs has a file: exit 2 naming it, at once (a blocking open would hang forever)."""
        root = self.tree()
        cpuinfo = root / "proc" / "cpuinfo"
        cpuinfo.unlink()
        os.mkfifo(cpuinfo)
        result = run("numa", "--sysfs-root", str(root), timeout=20)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == (f"{cpuinfo}: <document>: is a FIFO, not a regular file; a host's sysfs and proc "
                                 "hold regular files: point --sysfs-root at one [numa.sysfs_file]\npconf: 1 error\n")

    def test_device_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        root = self.tree()
        node = next((root / "sys" / "devices" / "system" / "node").glob("node*"))
        (node / "meminfo").unlink()
        (node / "meminfo").symlink_to("/dev/zero")
        code, _, err = call(capsys, "numa", "--sysfs-root", str(root))
        assert code == 2
        assert "meminfo: <document>: leads out of the root, to /dev/zero" in err

    def test_link_out_of_the_root(self, capsys: pytest.CaptureFixture[str]) -> None:
        root = self.tree()
        node = next((root / "sys" / "devices" / "system" / "node").glob("node*"))
        (node / "cpulist").unlink()
        secret = Path("outside.txt")
        secret.write_text("0-3\n")
        (node / "cpulist").symlink_to(secret.resolve())
        code, _, err = call(capsys, "numa", "--sysfs-root", str(root))
        assert code == 2
        assert f"leads out of the root, to {secret.resolve()}" in err

    def test_link_inside_the_root_is_followed(self, capsys: pytest.CaptureFixture[str]) -> None:
        root = self.tree()
        node = next((root / "sys" / "devices" / "system" / "node").glob("node*"))
        copy = root / "cpulist-copy"
        shutil.copy(node / "cpulist", copy)
        (node / "cpulist").unlink()
        (node / "cpulist").symlink_to(copy.resolve())
        assert call(capsys, "numa", "--sysfs-root", str(root))[0] == 0

    def test_empty_root(self, capsys: pytest.CaptureFixture[str]) -> None:
        Path("empty").mkdir()
        assert call(capsys, "numa", "--sysfs-root", "empty") == (2, "", (
            "empty/sys/devices/system/node: <document>: no NUMA nodes here, and no online CPUs: not a host's sysfs; "
            "give the root of a filesystem holding sys/ and proc/ (--sysfs-root empty has neither) "
            "[numa.sysfs_empty]\npconf: 1 error\n"))

    def test_oversized_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        root = self.tree()
        with open(root / "proc" / "cpuinfo", "ab") as f:
            f.truncate((8 << 20) + 1)
        code, _, err = call(capsys, "numa", "--sysfs-root", str(root))
        assert code == 2
        assert "cpuinfo: <document>: is larger than 8 MiB" in err


class TestResetKeys:
    def test_misspelt_reset_in_a_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", 'reset = ["parallel.tensor_paralel_size"]\n[parallel]\n')
        assert call(capsys, "validate", "c.toml") == (2, "", (
            "c.toml:1:1: parallel.tensor_paralel_size: unknown key `tensor_paralel_size` in [parallel] (named by a "
            "reset); did you mean `tensor_parallel_size`? [schema.unknown_key]\npconf: 1 error\n"))

    def test_misspelt_reset_on_the_command_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", "[parallel]\ntensor_parallel_size = 2\n")
        code, _, err = call(capsys, "validate", "c.toml", "--set", "~parallel.tensr_parallel_size")
        assert code == 2
        assert err.startswith("--reset parallel.tensr_parallel_size: parallel.tensr_parallel_size: unknown key")
        assert "did you mean `tensor_parallel_size`?" in err

    def test_known_resets_pass(self) -> None:
        write("c.toml", 'reset = ["parallel.tensor_parallel_size", "parallel.eplb_config", "cluster.topology"]\n')
        assert pconf.compile_files(["c.toml"]).resolved.parallel.tensor_parallel_size == 1


class TestTomlEndOfFile:
    @pytest.mark.parametrize(("text", "expected"), [
        ("[parallel]\ntensor_parallel_size = 2\nfoo = [1, 2", "c.toml:3:12: parallel.foo: TOML syntax error: "
         "Unclosed array (the file ends inside it)"),
        ('[parallel]\nfoo = "abc', "c.toml:2:11: parallel.foo: TOML syntax error: Unterminated string (the file "
         "ends inside it)"),
    ])
    def test_located_at_the_end(self, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
        write("c.toml", text)
        code, _, err = call(capsys, "validate", "c.toml")
        assert code == 2
        assert err.startswith(expected)


class TestYamlLineBreaks:
    @pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029"])
    def test_positions_after_a_break_pconf_does_not_count(self, capsys: pytest.CaptureFixture[str],
                                                          char: str) -> None:
        write("c.yaml", f'parallel:\n  worker_cls: "a{char}b"\n  tensor_parallel_size: "2"\n')
        assert call(capsys, "validate", "c.yaml") == (2, "", (
            'c.yaml:3:3: parallel.tensor_parallel_size: must be an integer (got "2"); write 2 without quotes '
            "[schema.type]\npconf: 1 error\n"))

    def test_syntax_error_after_one(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.yaml", "a: 1\n\u2028b: [\n")
        code, _, err = call(capsys, "validate", "c.yaml")
        assert code == 2
        assert err.startswith("c.yaml:3:1: ")

    def test_crlf(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.yaml", 'parallel:\r\n  tensor_parallel_size: "2"\r\n')
        assert call(capsys, "validate", "c.yaml")[2].startswith("c.yaml:2:3: parallel.tensor_parallel_size")


class TestManyMistakes:
    def test_50000_unknown_keys(self) -> None:
        """Every issue is in ConfigError.issues; the command prints 100 and counts the rest, quickly."""
        write("c.toml", "[parallel]\n" + "".join(f"k{i} = 1\n" for i in range(50_000)))
        with pytest.raises(pconf.ConfigError) as caught:
            pconf.compile_files(["c.toml"])
        assert len(caught.value.issues) == 50_000
        result = run("validate", "c.toml")
        lines = result.stderr.splitlines()
        assert result.returncode == 2
        assert len(lines) == 102
        assert lines[-2:] == ["pconf: ... and 49900 more not shown", "pconf: 50000 errors"]
        assert lines[0] == ("c.toml:2:1: parallel.k0: unknown key `k0` in [parallel]; remove it "
                            "(`pconf compile` prints every key there is) [schema.unknown_key]")
