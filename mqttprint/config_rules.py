"""Configuration rules that need more than a type check: which REST keys may face a network,
and whether a `sim://` port URL names only known simulator options."""

from __future__ import annotations

import ipaddress
from typing import Optional


#: Keys printed in README, docs/ and the shipped config.yaml: fine on 127.0.0.1, never on a network.
DOCUMENTED_KEYS = frozenset({"change-me-0123456789abcdef", "generate-me-with-secrets.token_hex(16)"})
#: Shortest key accepted while the REST server listens beyond loopback.
EXPOSED_KEY_LENGTH = 32


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def exposed_key_problem(key: str) -> Optional[str]:
    """Why `key` must not guard a REST server reachable from the network, or None."""
    if key in DOCUMENTED_KEYS:
        return "is the example key from the documentation"
    if len(key) < EXPOSED_KEY_LENGTH:
        return f"is shorter than {EXPOSED_KEY_LENGTH} characters"
    return None


def sim_port_problem(url: str) -> Optional[str]:
    """Why a `sim://` port URL would fail to open (unknown or invalid simulator option), or None."""
    from mqttprint.sim.inprocess_port import parse_sim_url  # only when a simulator is configured

    try:
        parse_sim_url(url)
    except (ValueError, TypeError) as exc:
        return f"{exc} (simulator options: docs/install.md, 'The simulator')"
    return None
