"""A fork server with torch imported, so a program that imports torch starts in milliseconds, not over a second.

    python tests/runtime/zygote.py serve SOCKET                 # imports torch and pconf, then serves
    python tests/runtime/zygote.py run SOCKET PROGRAM [ARG]...  # PROGRAM: a script path, or -m MODULE

The dev profile's runtime tests start ``-m pconf launch`` and the rank programs they write themselves
(probe_rank.py, die_rank.py, dp_rank.py, ``-m pconf.runtime.worker``) through ``run``; the ci profile starts
them as fresh interpreters (conftest's ``torch_python``). ``run`` is a light process that stands for the
program: it hands the server its argv, environment, working directory and standard streams, and the server
forks a child that runs PROGRAM as ``python PROGRAM...`` would, writing straight into those streams. The child
is a real process of its own (its own gloo groups and sockets), and it exits through the interpreter's normal
shutdown. ``run`` forwards SIGINT, SIGTERM and SIGHUP to it and ends the way it ended: its exit code, or killed
by the same signal. If ``run`` dies (SIGKILL), the server kills the child; if the server's parent (pytest)
dies, the server kills its children and exits.

What differs from a fresh interpreter, and why ci does without it: the children share the server's hash seed
and start with its modules already imported, and a launcher's child is ``run``, not the rank itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from typing import Any

_LEN = struct.Struct("!I")
_STATUS = struct.Struct("!i")
#: What every rank program imports anyway; the children find it in sys.modules.
PRELOAD = ("torch", "torch.distributed", "pconf", "pconf.compile", "pconf.runtime.groups", "pconf.runtime.dp",
           "pconf.runtime.store", "pconf.runtime.verify", "pconf.runtime.worker")
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# -- the client -----------------------------------------------------------------------------------------------


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the zygote closed the connection")
        data += chunk
    return data


def run(path: str, argv: list[str]) -> int:
    """Have the server run ``argv`` (as after ``python``) in a child with this process's environment and streams;
    end as the child ended."""
    # A signal that comes before the child's pid is known waits (blocked), then goes to the child.
    signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    request = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    socket.send_fds(conn, [_LEN.pack(len(request))], [0, 1, 2])
    conn.sendall(request)
    pid = int(_STATUS.unpack(_recv_exactly(conn, _STATUS.size))[0])

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):  # it may have ended already
            os.kill(pid, signum)

    for sig in _FORWARDED:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
    try:
        status = int(_STATUS.unpack(_recv_exactly(conn, _STATUS.size))[0])
    except ConnectionError:
        print(f"zygote: the server went away while child {pid} ran", file=sys.stderr, flush=True)
        return 1
    if status < 0:  # killed by signal -status: end the same way
        if -status != signal.SIGKILL:  # whose disposition cannot be set (and always kills)
            signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        time.sleep(5)
        return 128 - status
    return status


# -- the server -----------------------------------------------------------------------------------------------


class _Job:
    """What a forked child is to run."""

    def __init__(self, request: dict[str, Any], fds: list[int]) -> None:
        self.argv: list[str] = request["argv"]
        self.env: dict[str, str] = request["env"]
        self.cwd: str = request["cwd"]
        self.fds = fds


def serve(path: str) -> _Job:
    """Import PRELOAD, then fork a child per request until told to stop (SIGTERM) or orphaned. Returns only in a
    child, with the job it is to run."""
    import gc
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    # Out of the collector's sight: a child's collections and its shutdown then do not touch (and so copy) every
    # page of the preloaded heap. Without this a child took over a second to exit, longer than a fresh interpreter.
    gc.freeze()
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    children: dict[int, socket.socket] = {}
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    print("ready", flush=True)
    while not stopping and os.getppid() == parent:
        readable, _, _ = select.select([listener, *children.values()], [], [], 0.1)
        for conn in readable:
            if conn is listener:
                job = _accept(listener, children)
                if job is not None:  # the child: leave the loop with the job
                    listener.close()
                    for other in children.values():
                        other.close()
                    return job
            else:  # the client went away (killed): its child goes too; the status is collected below
                pid = next(p for p, c in children.items() if c is conn)
                _kill(pid)
        _reap(children)
    for pid in list(children):
        _kill(pid)
    deadline = time.monotonic() + 10
    while children and time.monotonic() < deadline:
        _reap(children)
        time.sleep(0.05)
    listener.close()
    os.unlink(path)
    sys.exit(0)


def _accept(listener: socket.socket, children: dict[int, socket.socket]) -> _Job | None:
    conn, _ = listener.accept()
    conn.settimeout(10)
    try:
        head, fds, _, _ = socket.recv_fds(conn, _LEN.size, 3)
        (size,) = _LEN.unpack(head + _recv_exactly(conn, _LEN.size - len(head)))
        request = json.loads(_recv_exactly(conn, size))
    except (OSError, ValueError, struct.error) as exc:
        print(f"zygote: a bad request ({exc})", file=sys.stderr, flush=True)
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:
        conn.close()
        return _Job(request, fds)
    for fd in fds:
        os.close(fd)
    conn.settimeout(None)
    children[pid] = conn
    with contextlib.suppress(OSError):  # if the client is already gone, the loop sees it and kills the child
        conn.sendall(_STATUS.pack(pid))
    return None


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(children: dict[int, socket.socket]) -> None:
    """Collect every child that ended and tell its client how (exit code, or -N for signal N)."""
    while children:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        code = -os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else os.WEXITSTATUS(wait_status)
        with contextlib.suppress(OSError):  # the client may be gone
            conn.sendall(_STATUS.pack(code))
        conn.close()


def _become(job: _Job) -> None:
    """In the child: take the client's streams, environment, directory and argv, and the signal dispositions a
    fresh interpreter has."""
    for target, fd in enumerate(job.fds):
        os.dup2(fd, target)
        os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(job.cwd)
    os.environ.clear()
    os.environ.update(job.env)
    unbuffered = bool(job.env.get("PYTHONUNBUFFERED"))
    for name, fd in (("stdout", 1), ("stderr", 2)):
        raw = io.FileIO(fd, "wb", closefd=False)
        stream = raw if unbuffered else io.BufferedWriter(raw)
        wrapper = io.TextIOWrapper(stream, encoding="utf-8", errors="backslashreplace" if name == "stderr" else
                                   "strict", line_buffering=name == "stderr" or os.isatty(fd),
                                   write_through=unbuffered)
        setattr(sys, name, wrapper)


def _run_job(job: _Job) -> None:
    """Run the job as ``python ARGV`` would; raises SystemExit like the program would end."""
    import runpy

    _become(job)
    if job.argv[:1] == ["-m"]:
        module, args = job.argv[1], job.argv[2:]
        sys.argv = [module, *args]  # runpy puts the module's path in argv[0]
        sys.path[0] = job.cwd
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script, args = job.argv[0], job.argv[1:]
        sys.argv = [script, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) == 2:
        job = serve(argv[1])
        _run_job(job)  # in a forked child: SystemExit (or an exception) ends the interpreter as it would a rank
        return 0
    if argv[:1] == ["run"] and len(argv) >= 3:
        return run(argv[1], argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
