"""A throwaway NATS JetStream cluster on loopback ports, for the buffer's benchmark and tests.

Each node is a ``nats-server`` process with JetStream on, its store in a folder of its own, and
routes to the others; ``kill`` ends one with SIGKILL, as a lost machine would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Where this machine keeps the server; ``VITALS_NATS_SERVER`` or the PATH otherwise.
DEFAULT_BINARY = "/usr/sbin/nats-server"


def nats_server_binary() -> str | None:
    for candidate in (os.environ.get("VITALS_NATS_SERVER"), DEFAULT_BINARY, shutil.which("nats-server")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Node:
    name: str
    client_port: int
    cluster_port: int
    store: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"


@dataclass
class NatsCluster:
    nodes: list[Node]
    binary: str
    killed: list[str] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def start_node(self, node: Node) -> None:
        routes = ",".join(f"nats://127.0.0.1:{n.cluster_port}" for n in self.nodes if n is not node)
        command = [
            self.binary, "-js", "-n", node.name, "-a", "127.0.0.1", "-p", str(node.client_port),
            "-sd", str(node.store), "--cluster_name", "vitals-buffer",
            "--cluster", f"nats://127.0.0.1:{node.cluster_port}", "--routes", routes,
        ]  # fmt: skip
        with node.log.open("ab") as out:
            node.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def kill(self, name: str) -> None:
        """SIGKILL one node (no goodbye to the cluster, no flush)."""
        node = self.node(name)
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait()
        self.killed.append(name)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {n.name}\n{n.log.read_text(errors='replace')[-3000:]}" for n in self.nodes)


@contextlib.contextmanager
def nats_cluster(workdir: Path, size: int = 3, timeout: float = 30.0) -> Iterator[NatsCluster]:
    """``size`` JetStream nodes on free loopback ports, stores under ``workdir``; stopped after.

    Yields once every node listens; JetStream itself elects its meta leader a moment later
    (clients retry what it answers 503 meanwhile).
    """
    binary = nats_server_binary()
    if binary is None:
        raise FileNotFoundError("nats-server not found (set VITALS_NATS_SERVER)")
    nodes = []
    for index in range(1, size + 1):
        store = workdir / f"n{index}"
        store.mkdir(parents=True, exist_ok=True)
        nodes.append(Node(f"n{index}", _free_port(), _free_port(), store, workdir / f"n{index}.log"))
    cluster = NatsCluster(nodes, binary)
    try:
        for node in nodes:
            cluster.start_node(node)
        deadline = time.monotonic() + timeout
        while not all(_listening(node.client_port) for node in nodes):
            if time.monotonic() > deadline or any(n.process and n.process.poll() is not None for n in nodes):
                raise RuntimeError(f"the NATS cluster did not start:\n{cluster.logs()}")
            time.sleep(0.05)
        yield cluster
    finally:
        cluster.stop()


__all__ = ["NatsCluster", "Node", "nats_cluster", "nats_server_binary"]
