"""Network addresses as pconf meets them: which ones reach only their own host, and ``host:port`` with IPv6.

Stdlib only (``ipaddress``); no name is ever resolved, so nothing here touches the network.
"""

from __future__ import annotations

import ipaddress

#: Host names that mean "this host" without resolving them (RFC 6761 reserves ``localhost`` and its subdomains).
_LOCAL_NAMES = ("localhost", "localhost.", "ip6-localhost", "ip6-loopback")


def parse_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``address`` spells (an IPv6 scope ``%eth0`` allowed), or None for a host name."""
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def is_local_only(address: str) -> bool:
    """Whether ``address`` can only reach the host it is used on: loopback (127.0.0.0/8, ``::1``, an IPv4-mapped
    loopback, ``localhost``) or unspecified (``0.0.0.0``, ``::``, which a client cannot connect to across hosts)."""
    name = address.strip().lower()
    if name in _LOCAL_NAMES or name.endswith((".localhost", ".localhost.")):
        return True
    ip = parse_ip(name)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def is_ipv6(address: str) -> bool:
    """Whether ``address`` is a literal IPv6 address (which needs brackets before a ``:port``)."""
    return isinstance(parse_ip(address), ipaddress.IPv6Address)


def host_port(address: str, port: int | None) -> str:
    """``address:port``, with an IPv6 address in brackets (``[fd00::1]:29501``), as URLs write it."""
    host = f"[{address}]" if is_ipv6(address) else address
    return host if port is None else f"{host}:{port}"


def tcp_url(address: str, port: int) -> str:
    """``tcp://address:port`` (IPv6 in brackets), the form torch's rendezvous and vLLM's ZMQ sockets use."""
    return f"tcp://{host_port(address, port)}"


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be a host to connect to or bind (empty, whitespace, brackets), or None.

    Host names are accepted unresolved, and so are placeholders a deployment template fills in later.
    """
    if not address:
        return "an address cannot be empty"
    if address != address.strip() or any(c.isspace() for c in address):
        return "an address cannot contain whitespace"
    if address.startswith("[") or address.endswith("]"):
        return "write an IPv6 address without brackets (vLLM and torch add them where a URL needs them)"
    return None


__all__ = ["address_problem", "host_port", "is_ipv6", "is_local_only", "parse_ip", "tcp_url"]
