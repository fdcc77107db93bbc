"""Ray clusters for the jobs that scale past one machine: ``so101 eval --backend ray`` and ``so101 record --teleop
scripted --backend ray``.

``--ray.address`` names the cluster: ``local`` starts a one-machine cluster for the command and stops it after,
``auto`` joins the cluster that ``ray start --head`` started on this machine, ``HOST:PORT`` joins a head node. Every
node runs the workbench's own code (the package is imported there, never shipped): ``ray_cluster`` checks that each
node can import the modules a job needs before any work is sent, and says how to fix it when one cannot.

Ray is optional (the ``ray`` extra, installed by ``make setup``); it is imported only here and in the Ray backends,
when a command asks for it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from so101.errors import ClusterError, ConfigError, DependencyError

RAY_VERSION = "2.60.0"
"""The Ray release the workbench is tested with (pyproject.toml's ``ray`` extra)."""
BACKENDS = ("local", "ray")
"""``--backend`` choices: ``local`` runs on this machine (its process pool), ``ray`` on a Ray cluster."""
CONNECT_TIMEOUT_S = 5.0
"""How long (s) a head node's port is tried before ``--ray.address HOST:PORT`` is reported unreachable."""


@dataclass
class RayOptions:
    """The Ray cluster of ``--backend ray`` (``--ray.*``)."""

    address: str = "local"
    """The cluster: ``local`` (start one on this machine for this command, stopped after), ``auto`` (the cluster
    that ``ray start --head`` started on this machine) or ``HOST:PORT`` of a head node (``ray start --head`` prints
    it)."""
    cpus_per_worker: int = 1
    """CPUs each Ray worker reserves on its node; also its torch threads."""

    def __post_init__(self) -> None:
        if self.address not in ("local", "auto"):
            host, _, port = self.address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError("ray.address", self.address, "must be local, auto or HOST:PORT of a Ray head node")
        if self.cpus_per_worker < 1:
            raise ConfigError("ray.cpus_per_worker", self.cpus_per_worker, "must be at least 1")


def import_ray(needed_for: str) -> ModuleType:
    """The ``ray`` module.

    Raises:
        DependencyError: Ray is not installed (the message names the pinned version and the local backend).
    """
    try:
        return importlib.import_module("ray")
    except ImportError as err:
        raise DependencyError("ray", "not installed", RAY_VERSION, needed_for, "use --backend local") from err


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ClusterError(
            f"--ray.address {address}: no Ray head node answers there ({reason}); start one on that machine with  "
            "ray start --head --port PORT  and give the address it prints, or use --ray.address local to run on "
            "this machine",
            address,
        ) from err


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _reason(error: BaseException) -> str:
    """The innermost error line of a Ray task's failure (``ModuleNotFoundError: No module named 'so101'``), without
    Ray's traceback and colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.findall(r"^\s*(\w*(?:Error|Exception): .*)$", text, re.MULTILINE)
    return found[-1].strip() if found else _first_line(error)


def _probe(modules: tuple[str, ...]) -> str:
    """Import ``modules`` on a node; returns its host name."""
    for name in modules:
        importlib.import_module(name)
    return socket.gethostname()


def check_workbench(ray: ModuleType, modules: tuple[str, ...], address: str) -> None:
    """Import ``modules`` on every node of the connected cluster.

    Raises:
        ClusterError: a node cannot import one of them (the workbench is not installed there).
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(_probe)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    pending = {
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(modules):
        node.get("NodeManagerAddress", "?")
        for node in nodes
    }
    for ref, host in pending.items():
        try:
            ray.get(ref)
        except Exception as err:
            raise ClusterError(
                f"the Ray cluster at {address} cannot run the workbench on node {host} ({_reason(err)}); install "
                "it on every node, into the Python that runs  ray start  there (pip install -e '.[ray]' in a checkout "
                "of the same version), then restart Ray on that node",
                address,
            ) from err


@contextlib.contextmanager
def ray_cluster(options: RayOptions, needed_for: str, modules: tuple[str, ...], cpus: int) -> Iterator[ModuleType]:
    """Connect to the cluster of ``options`` (starting a local one for ``local``), check that every node can import
    ``modules`` and has ``cpus`` CPUs free in all; yields the ``ray`` module and disconnects (stopping a local
    cluster) at the end.

    Raises:
        DependencyError: Ray is not installed here.
        ClusterError: the cluster cannot be reached, joined or used.
        ConfigError: the cluster has fewer CPUs than the workers need.
    """
    ray = import_ray(needed_for)
    address = options.address
    if address not in ("local", "auto"):
        _check_reachable(address)
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address == "local":
            # address "local" starts a new cluster even when ``ray start`` left one running on this machine.
            ray.init(address="local", num_cpus=max(os.cpu_count() or 1, cpus), include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as err:
        causes = f"{err!r} {err.__cause__!r}"
        if "AuthToken" in causes or "Authentication" in causes:
            hint = ("the cluster uses token authentication, which Ray only sends to an address given when asked: set "
                    "RAY_AUTH_MODE=token, with the head node's token in ~/.ray/auth_token or RAY_AUTH_TOKEN")
        elif address == "auto":
            hint = "no Ray cluster was started here: start one with  ray start --head, or use --ray.address local"
        else:
            hint = "check that the head node runs the same Ray and Python versions as this machine (ray --version)"
        raise ClusterError(f"--ray.address {address}: cannot join the Ray cluster ({_first_line(err)}); {hint}",
                           address) from err
    try:
        check_workbench(ray, modules, address)
        available = int(ray.cluster_resources().get("CPU", 0))
        if cpus > available:
            raise ConfigError("workers", cpus // max(options.cpus_per_worker, 1), f"needs {cpus} CPUs but the Ray "
                              f"cluster at {address} has {available}: use fewer workers, or add nodes (ray start "
                              "--address HEAD:PORT on another machine)")
        yield ray
    finally:
        ray.shutdown()
