"""The deploy files name only commands and settings that exist.

Images cannot be built here (docs/design/scale-out.md has the commands); what can be
checked is that every SlabDB service in deploy/compose.yaml and deploy/k8s/ runs a real
``slabdb`` command or ``python -m`` module, with options that command takes, and that
every ``SLABDB_*`` variable they set is one the code reads.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import typer.main
import yaml

from slabdb.cli.main import app
from slabdb.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
K8S = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
OUR_IMAGE = "slabdb:dev"


def _known_slabdb_variables() -> set[str]:
    read = {f"SLABDB_{name.upper()}" for name in Settings.model_fields}
    for path in (ROOT / "src" / "slabdb").rglob("*.py"):
        read |= set(re.findall(r"SLABDB_[A-Z0-9_]+", path.read_text()))
    return read


def _compose_services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _k8s_containers() -> list[dict[str, Any]]:
    out = []
    for path in K8S:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                out += doc["spec"]["template"]["spec"]["containers"]
    return out


def _ours() -> list[tuple[str, list[str], dict[str, str]]]:
    found = []
    for name, svc in _compose_services().items():
        if svc.get("image") == OUR_IMAGE:
            env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
            found.append((f"compose:{name}", list(svc["command"]), env))
    for c in _k8s_containers():
        env = {e["name"]: str(e.get("value", "")) for e in c.get("env", [])}
        found.append((f"k8s:{c['name']}", list(c["command"]), env))
    assert len(found) >= 5, found
    return found


def _resolve(argv: list[str]) -> Any:
    """The (click) command ``slabdb argv...`` runs (lazy groups loaded)."""
    group: Any = typer.main.get_command(app)
    words = [w for w in argv if not w.startswith("-")]
    for word in words:
        if not hasattr(group, "get_command"):  # a command, not a group
            break
        sub = group.get_command(group.context_class(group), word)
        assert sub is not None, f"slabdb has no command {' '.join(words)}"
        group = sub
    return group


def test_every_service_runs_a_command_that_exists_with_options_it_takes() -> None:
    for where, command, _env in _ours():
        if command[:2] == ["python", "-m"]:
            module = command[2]
            assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"
            continue
        assert command[0] == "slabdb", f"{where}: {command}"
        cmd = _resolve(command[1:])
        options = {o for p in cmd.params for o in getattr(p, "opts", [])}
        for arg in command[1:]:
            if arg.startswith("--"):
                flag = arg.split("=", 1)[0]
                assert flag in options, f"{where}: slabdb {cmd.name} takes no {flag}"


def test_every_slabdb_variable_set_is_one_the_code_reads() -> None:
    known = _known_slabdb_variables()
    for where, _command, env in _ours():
        unknown = {k for k in env if k.startswith("SLABDB_")} - known
        assert not unknown, f"{where} sets variables nothing reads: {unknown}"


def test_builder_lease_is_on_for_every_node() -> None:
    for where, command, env in _ours():
        if command[:2] == ["slabdb", "serve"]:
            assert env.get("SLABDB_BUILDER_LEASE") == "1", where
            assert Settings(builder_lease=env["SLABDB_BUILDER_LEASE"]).builder_lease


def test_nodes_are_ready_on_health_and_the_image_checks_it() -> None:
    for c in _k8s_containers():
        assert c["readinessProbe"]["httpGet"]["path"] == "/health?check=ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", dockerfile, re.M)
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "embed" in re.search(r"pip install '\.\[([^\]]*)\]'", dockerfile).group(1)


def _option(command: list[str], flag: str) -> str | None:
    return next((a.split("=", 1)[1] for a in command if a.startswith(flag + "=")), None)


def test_nodes_route_by_host_name_on_one_port_that_the_proxy_balances() -> None:
    services = _compose_services()
    nodes = {
        n: s for n, s in services.items() if s.get("command", [None])[:2] == ["slabdb", "serve"]
    }
    assert len(nodes) == 2
    domains = {_option(s["command"], "--base-domain") for s in nodes.values()}
    ports = {_option(s["command"], "--port") for s in nodes.values()}
    assert len(domains) == 1 and None not in domains and ports == {"5080"}
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for node in nodes:
        assert f"server {node}:5080;" in conf
    assert re.findall(r"listen (\d+);", conf) == ["5080"]
    (domain,) = domains
    aliases = services["proxy"]["networks"]["default"]["aliases"]
    assert f"products-default.{domain}" in aliases  # the app's index, inside the network
    for c in _k8s_containers():
        assert _option(c["command"], "--base-domain") and _option(c["command"], "--advertise-port")
