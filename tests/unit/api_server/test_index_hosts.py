"""The index hosts ``describe_index`` answers with, and the DNS rule host routing adds."""

from __future__ import annotations

from pathlib import Path

import pytest

from slabdb.api.auth import Authenticator
from slabdb.api.context import ServerContext
from slabdb.api.metrics import ApiMetrics
from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.projects import MAX_HOST_LABEL, IndexInfo, Projects
from slabdb.core.config import EngineConfig
from slabdb.core.errors import InvalidArgumentError
from slabdb.storage import open_store

SPEC = {"serverless": {"cloud": "aws", "region": "us-east-1"}}


@pytest.fixture
def projects(tmp_path: Path) -> Projects:
    catalog = ControlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    out = Projects(open_store(str(tmp_path / "db")), catalog, EngineConfig(background=False))
    out.ensure_default()
    return out


def _context(projects: Projects, **kwargs: object) -> ServerContext:
    return ServerContext(
        projects=projects,
        auth=Authenticator(projects.catalog),
        metrics=ApiMetrics(lambda: ()),
        base_port=5080,
        **kwargs,  # type: ignore[arg-type]
    )


def _create(projects: Projects, name: str, project: str = "default") -> IndexInfo:
    return projects.create_index(project, {}, name=name, dimension=2, spec=SPEC)


def test_advertise_port_replaces_the_served_port_in_index_hosts(projects: Projects) -> None:
    info = _create(projects, "shop")
    routed = _context(projects, base_domain="db.example", data_port=7000)
    assert routed.index_host(info) == "http://shop-default.db.example:7000"
    behind_lb = _context(projects, base_domain="db.example", advertise_port=80)
    assert behind_lb.index_host(info) == "http://shop-default.db.example"
    tls_lb = _context(projects, base_domain="db.example", advertise_port=8443, scheme="https")
    assert tls_lb.index_host(info) == "https://shop-default.db.example:8443"
    ported = _context(projects, advertise_host="lb", advertise_port=6000)
    assert ported.index_host(info) == f"http://lb:{6000 + info.slot}"


def test_host_routing_refuses_an_index_whose_host_label_is_not_a_dns_label(
    projects: Projects,
) -> None:
    project = "p" * 30
    projects.create_project(project)
    longest = "i" * (MAX_HOST_LABEL - len(project) - 1)
    projects.unique_host_labels = False
    _create(projects, longest + "x", project)  # per-index ports: no DNS name, no limit
    projects.unique_host_labels = True
    with pytest.raises(InvalidArgumentError, match="DNS allows 63") as caught:
        _create(projects, "j" * (len(longest) + 1), project)
    assert f"at most {len(longest)} characters" in str(caught.value)
    assert not projects.client(project).has_index("j" * (len(longest) + 1))
    _create(projects, longest, project)
