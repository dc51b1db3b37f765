"""Start and stop a real ``slabdb serve`` subprocess (acceptance tests, sync tests).

with ServerProcess(data=tmp_path) as srv:
    pc = Pinecone(api_key=srv.api_key, host=srv.url)
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from slabdb.testing.net import follow

PORT_SPAN = 40
"""Ports base..base+PORT_SPAN must be free: the base port and one per index."""
_KEY = re.compile(r"^\s+(sdb-[0-9a-f]{8}-\S+)$", re.M)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(span: int = PORT_SPAN) -> int:
    for _ in range(200):
        base = random.randrange(20_000, 60_000 - span)
        if all(_free(base + i) for i in range(span)):
            return base
    raise RuntimeError("no free port range")


@dataclass
class ServerProcess:
    data: Path
    port: int = field(default_factory=free_port_range)
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[str] | None = None
    api_key: str = ""
    output: str = ""
    ca_cert: str = ""
    """With TLS: the CA file clients must trust (``--tls-self-signed`` prints it)."""

    @property
    def tls(self) -> bool:
        return any(arg.startswith("--tls-") for arg in self.extra_args)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify=`` for this server."""
        return ssl.create_default_context(cafile=self.ca_cert) if self.ca_cert else True

    def start(self, timeout: float = 30.0) -> ServerProcess:
        cmd = [
            sys.executable, "-m", "slabdb.cli", "serve", "--init", "--data", str(self.data),
            "--port", str(self.port), "--log-level", "warning", *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited early:\n{self.output}")
            self.output += line
            if m := _KEY.match(line):
                self.api_key = m.group(1)
            if line.startswith("TLS CA certificate") and not self.ca_cert:
                self.ca_cert = line.split(": ", 1)[1].strip()
            if line.startswith("SlabDB serving on"):
                break
        else:
            raise RuntimeError(f"server did not start:\n{self.output}")
        if not self.api_key:
            key_file = self.data / "_control" / "default-api-key"
            self.api_key = key_file.read_text().strip()
        follow(self.proc.stdout, self._append)
        httpx.get(self.url + "/health", timeout=5, verify=self.verify()).raise_for_status()
        return self

    def _append(self, line: str) -> None:
        self.output += line

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
