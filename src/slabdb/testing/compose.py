"""Run the services of a compose file as local processes (tests/integration/test_deploy_processes.py).

    services = load_services(COMPOSE, DOCKERFILE, "slabdb:dev", {"SLABDB_API_KEY": key})
    laptop = LaptopMap(endpoints={"minio:9000": "127.0.0.1:5123"}, ...)
    proc = ServiceProcess("node-a", *laptop.apply(services["node-a"], os.environ), cwd=tmp)

* :func:`load_services`: each service of one image with the argv Docker runs (the
  service's ``entrypoint``, else the Dockerfile's ``ENTRYPOINT``, then its ``command``)
  and its ``environment``, after compose's ``${VAR}`` / ``${VAR:-default}`` interpolation.
* :class:`LaptopMap`: the substitutions a laptop needs (compose host names to local
  endpoints, ports, program paths), every one explicit; :meth:`LaptopMap.unused` names
  the entries nothing matched, so a mapping cannot silently go stale.
* :class:`TcpBalancer`: a round-robin TCP proxy, what nginx's ``stream`` block does.
* :func:`localhost_resolver`: a ``sitecustomize`` directory for ``PYTHONPATH`` that makes
  ``*.localhost`` resolve to 127.0.0.1 in child processes (RFC 6761; what glibc's
  nss-myhostname does on most laptops, and the compose network's aliases do there).
* :class:`ServiceProcess`: one service as a subprocess, its output kept, stopped by SIGTERM.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from slabdb.testing.net import accept_forever, follow, pipe

_VARIABLE = re.compile(r"\$\{(\w+)(:-([^}]*))?\}")
_ENTRYPOINT = re.compile(r"^ENTRYPOINT\s+(\[.*\])\s*$", re.M)
_RESOLVER = '''"""Test-only: *.localhost resolves to 127.0.0.1 (written by slabdb.testing.compose)."""
import socket

_getaddrinfo = socket.getaddrinfo


def _loopback(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and (name == "localhost" or name.endswith(".localhost")):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback
'''


@dataclass(frozen=True)
class ComposeService:
    name: str
    argv: list[str]
    environment: dict[str, str]


def _interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ``${VAR}`` and ``${VAR:-default}`` (default when unset or empty)."""

    def one(m: re.Match[str]) -> str:
        given = variables.get(m.group(1), "")
        return given if given or m.group(2) is None else m.group(3)

    return _VARIABLE.sub(one, value)


def load_services(
    compose: Path, dockerfile: Path, image: str, variables: Mapping[str, str]
) -> dict[str, ComposeService]:
    """The services of ``compose`` that run ``image`` (built from ``dockerfile``)."""
    entry = _ENTRYPOINT.search(dockerfile.read_text())
    image_entrypoint: list[str] = json.loads(entry.group(1)) if entry else []
    found = {}
    for name, svc in yaml.safe_load(compose.read_text())["services"].items():
        if svc.get("image") != image:
            continue
        entrypoint = svc.get("entrypoint")  # null or absent: the image's; [] or "": none
        if entrypoint is None:
            entrypoint = image_entrypoint
        if isinstance(entrypoint, str):
            entrypoint = entrypoint.split()
        argv = [_interpolate(str(a), variables) for a in [*entrypoint, *svc["command"]]]
        env = {
            k: _interpolate(str(v), variables) for k, v in (svc.get("environment") or {}).items()
        }
        found[name] = ComposeService(name, argv, env)
    return found


@dataclass
class LaptopMap:
    """What changes between a container and this machine; nothing else does."""

    endpoints: Mapping[str, str]
    """Substrings of arguments and variable values: ``"minio:9000" -> "127.0.0.1:5123"``."""
    options: Mapping[str, Mapping[str, str]]
    """Per service, ``--flag=value`` arguments whose value changes (ports)."""
    programs: Mapping[str, str]
    """``argv[0]`` in the image -> the local executable."""
    added_env: Mapping[str, str] = field(default_factory=dict)
    """Variables the laptop adds (never one the compose file sets)."""
    _used: set[str] = field(default_factory=set)

    def args(self, service: str, argv: list[str]) -> list[str]:
        out = [self._program(argv[0])] if argv else []
        for arg in argv[1:]:
            flag, eq, _ = arg.partition("=")
            if eq and flag in self.options.get(service, {}):
                self._used.add(f"{service} {flag}")
                arg = f"{flag}={self.options[service][flag]}"
            out.append(self._endpoints(arg))
        return out

    def env(self, service: ComposeService, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` (this machine's PATH, HOME...) + the service's variables + the added."""
        clash = set(self.added_env) & set(service.environment)
        assert not clash, f"{service.name} sets {clash} itself"
        own = {k: self._endpoints(v) for k, v in service.environment.items()}
        return {**base, **own, **self.added_env}

    def apply(
        self, service: ComposeService, base: Mapping[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        return self.args(service.name, service.argv), self.env(service, base)

    def unused(self) -> set[str]:
        """Entries no argument or variable matched so far."""
        every = {*self.endpoints, *self.programs}
        every |= {f"{svc} {flag}" for svc, flags in self.options.items() for flag in flags}
        return every - self._used

    def _program(self, name: str) -> str:
        assert name in self.programs, f"no local program for {name!r}"
        self._used.add(name)
        return self.programs[name]

    def _endpoints(self, value: str) -> str:
        for old, new in self.endpoints.items():
            if old in value:
                self._used.add(old)
                value = value.replace(old, new)
        return value


def localhost_resolver(directory: Path) -> Path:
    """``directory`` holding a ``sitecustomize.py`` (put it on ``PYTHONPATH``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(_RESOLVER)
    return directory


class TcpBalancer:
    """Accepts on 127.0.0.1 and hands each connection to the next upstream port in turn."""

    def __init__(self, upstreams: list[int], port: int = 0) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        self.port: int = self.sock.getsockname()[1]
        self.connections = dict.fromkeys(upstreams, 0)
        self._next = itertools.cycle(upstreams)
        accept_forever(self.sock, self._forward)

    def _forward(self, client: socket.socket) -> None:
        upstream_port = next(self._next)
        self.connections[upstream_port] += 1
        try:
            upstream = socket.create_connection(("127.0.0.1", upstream_port))
        except OSError:
            client.close()
            return
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()

    def close(self) -> None:
        self.sock.close()


@dataclass
class ServiceProcess:
    """One service as a subprocess (stdout and stderr kept in :attr:`output`)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[str] | None = None
    output: str = ""

    def start(self) -> ServiceProcess:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=self.env, cwd=self.cwd,
        )  # fmt: skip
        follow(self.proc.stdout, self._append)
        return self

    def _append(self, line: str) -> None:
        self.output += line

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_http(self, url: str, timeout: float, **kwargs: Any) -> httpx.Response:
        """The first 200 answer from ``url`` within ``timeout`` s while the process lives."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise AssertionError(f"{self.name} exited:\n{self.output}")
            with contextlib.suppress(httpx.TransportError):
                res = httpx.get(url, timeout=5, **kwargs)
                if res.status_code == 200:
                    return res
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no 200 from {url} in {timeout}s:\n{self.output}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then wait (SIGKILL after ``timeout``); the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
