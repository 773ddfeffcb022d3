"""Joining Ray: the one place racer imports ``ray`` and starts or connects to a cluster.

``--ray`` takes an address as ``ray.init`` does: ``auto`` (the cluster ``ray start`` made on
this machine), ``HOST:PORT`` (a head node's GCS address), or racer's own ``local`` (a private
single-node Ray inside this process, for one machine). Ray starts its own processes; on this
machine they bind the loopback address whenever racer starts Ray itself (``local``) or is given a
loopback address, so nothing listens on the network unless a cluster was started to.
"""

from __future__ import annotations

import os
from typing import Any

from racer.errors import ConfigError, MissingDependencyError

#: Ray binds its node to 127.0.0.1 when this is "0" (read once, when Ray is imported)
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: Ray's anonymous usage statistics: off (racer sends nothing anywhere)
USAGE_STATS_ENV = "RAY_USAGE_STATS_ENABLED"
#: Ray's authentication mode: a driver given an explicit address needs "token" to present the
#: cluster's token (``~/.ray/auth_token``); ``auto`` finds it by itself
AUTH_MODE_ENV = "RAY_AUTH_MODE"
INSTALL = "pip install 'racer[ray]'"
LOCAL = "local"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(address: str) -> bool:
    """Whether ``address`` is racer's ``local`` or a ``HOST:PORT`` on this machine's loopback."""
    return address == LOCAL or address.rpartition(":")[0] in _LOOPBACK_HOSTS


def check_address(address: str) -> str:
    """The ``--ray`` value, checked: ``local``, ``auto`` or ``HOST:PORT`` (one-line error else)."""
    value = address.strip()
    if value in (LOCAL, "auto"):
        return value
    value = value.removeprefix("ray://") if value.startswith("ray://") else value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"--ray {address!r} is not a Ray address: use 'auto' (the cluster started with "
            "`ray start` on this machine), HOST:PORT of the head node, or 'local'"
        )
    return value


def require_ray() -> None:
    """A missing Ray as one line naming the install command, checked without importing Ray."""
    import importlib.util

    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        found = False
    if not found:
        raise MissingDependencyError(f"--ray needs Ray, which is not installed: {INSTALL}")


def import_ray(address: str = LOCAL) -> Any:
    """Import Ray with racer's settings; a missing Ray is one line naming the install command.

    Args:
        address: the address about to be used: racer's ``local`` and loopback addresses make
            Ray bind 127.0.0.1 (:data:`LOOPBACK_ENV`; must be set before Ray's first import).

    Returns:
        The ``ray`` module.
    """
    os.environ.setdefault(USAGE_STATS_ENV, "0")
    if is_loopback(address):
        os.environ[LOOPBACK_ENV] = "0"
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            f"--ray needs Ray, which is not installed: {INSTALL}"
        ) from None
    return ray


def connect(
    address: str,
    *,
    num_cpus: int | None = None,
    temp_dir: str | None = None,
    quiet: bool = True,
) -> Any:
    """Start (``local``) or join (``auto``, ``HOST:PORT``) Ray; reuse a session already open.

    Args:
        address: ``local``, ``auto`` or ``HOST:PORT`` (:func:`check_address`).
        num_cpus: ``local`` only: the CPUs Ray may schedule on (default: every core).
        temp_dir: ``local`` only: Ray's session folder (default Ray's own, ``/tmp/ray``).
        quiet: keep the workers' output and Ray's start-up lines off the terminal.

    Returns:
        The ``ray`` module, initialised.

    Raises:
        ConfigError: a malformed address, or no cluster there.
        MissingDependencyError: Ray is not installed.
    """
    address = check_address(address)
    ray = import_ray(address)
    if ray.is_initialized():  # a session this process already holds (tests, a library user)
        return ray
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": not quiet,
        "configure_logging": True,
        "logging_level": "WARNING" if quiet else "INFO",
        # workers import racer from the same installation as this process
        "runtime_env": {"env_vars": {USAGE_STATS_ENV: "0"}},
    }
    if address == LOCAL:
        kwargs.update(num_cpus=num_cpus, _node_ip_address="127.0.0.1")
        if temp_dir is not None:
            kwargs["_temp_dir"] = temp_dir
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        auth = (
            ""
            if os.environ.get(AUTH_MODE_ENV)
            else f"; a cluster with token authentication (Ray's default) also needs {AUTH_MODE_ENV}=token"
        )
        raise ConfigError(
            f"--ray {address}: no Ray cluster there ({detail}); start one with `ray start "
            f"--head`, or use --ray local{auth if address != 'auto' else ''}"
        ) from None
    return ray


def cluster_cpus(ray: Any) -> int:
    """CPUs the cluster offers in total (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
