"""Which local network interface reaches an address (for GLOO_SOCKET_IFNAME in multi-node runs), IPv4 or IPv6.
Linux only."""

from __future__ import annotations

import fcntl
import socket
import struct

_SIOCGIFADDR = 0x8915


def local_address_towards(addr: str, port: int = 9) -> str | None:
    """The local address (IPv4 or IPv6) the kernel would use to reach ``addr`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((addr, port))
            local: str = probe.getsockname()[0]
            return local
    except OSError:
        return None


def interface_address(name: str) -> str | None:
    """The IPv4 address of interface ``name``, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def ipv6_interfaces(path: str = "/proc/net/if_inet6") -> dict[str, str]:
    """Each local IPv6 address (compressed) and the interface that has it, from the kernel's table."""
    import ipaddress

    found: dict[str, str] = {}
    try:
        with open(path, encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 6:
                    found[str(ipaddress.IPv6Address(int(fields[0], 16)))] = fields[5]
    except (OSError, ValueError):
        return {}
    return found


def interface_towards(addr: str) -> str | None:
    """The name of the interface that carries traffic to ``addr``, or None when it cannot be told."""
    local = local_address_towards(addr)
    if local is None:
        return None
    if ":" in local:
        return ipv6_interfaces().get(local.split("%", 1)[0])
    for _, name in socket.if_nameindex():
        if interface_address(name) == local:
            return name
    return None
