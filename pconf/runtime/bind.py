"""Apply a NUMA binding to a process: CPU affinity and memory policy, or a ``numactl`` prefix for a child.

No torch here: ``pconf.runtime`` resolves its names lazily, so ``pconf exec`` and launchers bind without it.

Two mechanisms, the same result (vLLM uses the first):

- ``numactl``: run the command as ``numactl <vLLM's arguments> CMD ...`` (``numactl_argv``); numactl sets the
  affinity and the memory policy, then executes the command.
- ``affinity``: set them in this process (``apply_binding``: ``os.sched_setaffinity`` and libnuma's
  ``set_mempolicy(MPOL_BIND)`` through ctypes) and read them back; both survive ``execve``, so a process that
  then replaces itself with the command (``exec_bound``) hands them on. Without libnuma the memory policy is
  reported as not applied, never silently skipped.

Both act on the calling thread (the kernel keeps affinity and memory policy per thread), which is the one that
``execve`` keeps.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn

from pconf.cpulist import format_cpu_list
from pconf.numa.binding import Binding
from pconf.numa.sysfs import read_host_topology

Mechanism = Literal["numactl", "affinity"]
MECHANISMS: tuple[Mechanism, ...] = ("numactl", "affinity")

MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL = 0, 1, 2, 3, 4
_MPOL_MODE_FLAGS = (1 << 15) | (1 << 14) | (1 << 13)  # MPOL_F_STATIC_NODES, _RELATIVE_NODES, _NUMA_BALANCING
_NODE_BITS = 1024  # node masks this wide cover any kernel's MAX_NUMNODES
_ULONG_BITS = ctypes.sizeof(ctypes.c_ulong) * 8


class BindError(RuntimeError):
    """The binding cannot be applied here (no numactl, CPUs this process may not use, no such node)."""


@dataclass(frozen=True)
class BindReport:
    """What ``apply_binding`` did, read back from the kernel afterwards.

    ``cpus``: the affinity now (``os.sched_getaffinity``). ``mempolicy``: ``(mode, nodes)`` now, None when it
    cannot be read (no libnuma). ``mempolicy_applied``: MPOL_BIND to the binding's nodes is in force;
    ``note`` says why not, when it is not.
    """

    cpus: tuple[int, ...]
    mempolicy: tuple[int, tuple[int, ...]] | None
    mempolicy_applied: bool
    note: str = ""


def numactl_path() -> str | None:
    """Where ``numactl`` is on PATH, or None."""
    return shutil.which("numactl")


def default_mechanism() -> Mechanism:
    """``numactl`` when it is installed (as vLLM binds), else ``affinity``."""
    return "numactl" if numactl_path() else "affinity"


def numactl_argv(binding: Binding, command: Sequence[str], numactl: str = "numactl") -> list[str]:
    """``[numactl, <vLLM's arguments>, *command]``: the child command line that applies ``binding``."""
    return [numactl, *binding.numactl_args, *command]


def binding_cpus(binding: Binding, root: str | os.PathLike[str] = "/") -> tuple[int, ...]:
    """The CPUs ``binding`` lets the process use on this host: its CPU list, or the CPUs of its nodes (read from
    sysfs under ``root`` when the plan did not know them) that this process may use, as numactl takes them."""
    if binding.cpus is not None and binding.allowed_cpus is not None:
        return binding.allowed_cpus
    if binding.allowed_cpus is not None:
        node_cpus: set[int] = set(binding.allowed_cpus)
    else:
        host = read_host_topology(root)
        missing = [n for n in binding.nodes if n not in {h.id for h in host.nodes}]
        if missing:
            raise BindError(f"this host has no NUMA node {', '.join(map(str, missing))} (its nodes: "
                            f"{', '.join(str(h.id) for h in host.nodes)})")
        node_cpus = {c for h in host.nodes if h.id in binding.nodes for c in h.cpus}
    usable = node_cpus & os.sched_getaffinity(0)
    if not usable:
        raise BindError(f"none of the CPUs of NUMA node {','.join(map(str, binding.nodes))} "
                        f"({format_cpu_list(node_cpus) or 'none'}) is available to this process")
    return tuple(sorted(usable))


def apply_binding(binding: Binding, root: str | os.PathLike[str] = "/") -> BindReport:
    """Bind the calling thread: CPU affinity to the binding's CPUs, memory policy MPOL_BIND to its nodes.

    BindError when the CPUs cannot be used (numactl refuses those too); a memory policy that cannot be set is
    reported in the BindReport (``mempolicy_applied`` false, with the reason), not raised.
    """
    cpus = binding_cpus(binding, root)
    allowed = os.sched_getaffinity(0)
    outside = sorted(set(cpus) - allowed)
    if outside and binding.cpus is not None:
        raise BindError(f"CPUs {format_cpu_list(outside)} are not available to this process (it may use "
                        f"{format_cpu_list(allowed)})")
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as exc:
        raise BindError(f"cannot run on CPUs {format_cpu_list(cpus)}: {exc.strerror}") from None
    applied, note = set_mempolicy_bind(binding.nodes)
    return BindReport(tuple(sorted(os.sched_getaffinity(0))), read_mempolicy(), applied, note)


# -- memory policy through libnuma ---------------------------------------------------------------------------


def _libnuma() -> ctypes.CDLL | None:
    for name in ("libnuma.so.1", "libnuma.so"):
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
        lib.set_mempolicy.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_ulong), ctypes.c_ulong]
        lib.set_mempolicy.restype = ctypes.c_long
        lib.get_mempolicy.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_ulong), ctypes.c_ulong,
                                      ctypes.c_void_p, ctypes.c_ulong]
        lib.get_mempolicy.restype = ctypes.c_long
        return lib
    return None


def _mask(nodes: Sequence[int]) -> ctypes.Array[ctypes.c_ulong]:
    mask = (ctypes.c_ulong * (_NODE_BITS // _ULONG_BITS))()
    for node in nodes:
        mask[node // _ULONG_BITS] |= 1 << (node % _ULONG_BITS)
    return mask


def set_mempolicy_bind(nodes: Sequence[int]) -> tuple[bool, str]:
    """Set MPOL_BIND to ``nodes`` for the calling thread: ``(True, "")``, or ``(False, why not)``."""
    if any(not 0 <= n < _NODE_BITS for n in nodes) or not nodes:
        return False, f"NUMA nodes {list(nodes)} are outside 0..{_NODE_BITS - 1}"
    lib = _libnuma()
    if lib is None:
        return False, "libnuma is not installed (install numactl / libnuma1)"
    # maxnode is one more than the mask's bits: the kernel drops the last bit (as libnuma's numa_set_membind does)
    if lib.set_mempolicy(MPOL_BIND, _mask(nodes), _NODE_BITS + 1) != 0:
        err = ctypes.get_errno()
        hint = " (in a container: --cap-add SYS_NICE, or a seccomp profile allowing set_mempolicy)" \
            if err == 1 else ""
        return False, f"set_mempolicy failed: {os.strerror(err)}{hint}"
    return True, ""


def read_mempolicy() -> tuple[int, tuple[int, ...]] | None:
    """The calling thread's memory policy ``(mode, nodes)`` (MPOL_BIND is 2), or None without libnuma."""
    lib = _libnuma()
    if lib is None:
        return None
    mode = ctypes.c_int()
    mask = _mask(())
    if lib.get_mempolicy(ctypes.byref(mode), mask, _NODE_BITS + 1, None, 0) != 0:
        return None
    nodes = tuple(i * _ULONG_BITS + b for i, word in enumerate(mask) for b in range(_ULONG_BITS) if word >> b & 1)
    return mode.value & ~_MPOL_MODE_FLAGS, nodes


def reset_mempolicy() -> bool:
    """Put the calling thread back on the default memory policy; False without libnuma or on failure."""
    lib = _libnuma()
    return lib is not None and lib.set_mempolicy(MPOL_DEFAULT, None, 0) == 0


# -- running a command bound ---------------------------------------------------------------------------------


def exec_bound(command: Sequence[str], env: Mapping[str, str], binding: Binding | None,
               mechanism: Mechanism | None = None, *, root: str | os.PathLike[str] = "/",
               warn: Callable[[str], None] | None = None) -> NoReturn:
    """Replace this process with ``command`` (PATH searched), bound by ``binding`` and with exactly ``env``.

    ``mechanism``: ``numactl`` (exec numactl with vLLM's arguments), ``affinity`` (bind here, then exec), or None
    for numactl when installed, else affinity. ``binding`` None execs unbound. ``warn`` hears what could not be
    applied (the memory policy without libnuma). BindError before anything is replaced; OSError from exec
    (e.g. the command does not exist) leaves this process running.
    """
    if not command:
        raise BindError("no command to run")
    argv = list(command)
    if binding is not None:
        chosen = mechanism or default_mechanism()
        if chosen == "numactl":
            path = numactl_path()
            if path is None:
                raise BindError("numactl is not installed (apt-get install numactl), or use --bind affinity")
            argv = numactl_argv(binding, command, path)
        else:
            report = apply_binding(binding, root)
            if not report.mempolicy_applied and warn is not None:
                warn(f"memory policy not applied: {report.note}; CPU affinity is "
                     f"{format_cpu_list(report.cpus)}")
    os.execvpe(argv[0], argv, dict(env))


__all__ = [
    "MECHANISMS",
    "MPOL_BIND",
    "MPOL_DEFAULT",
    "BindError",
    "BindReport",
    "Mechanism",
    "apply_binding",
    "binding_cpus",
    "default_mechanism",
    "exec_bound",
    "numactl_argv",
    "numactl_path",
    "read_mempolicy",
    "reset_mempolicy",
    "set_mempolicy_bind",
]
