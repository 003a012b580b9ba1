"""Fixtures for MPC tests: fresh deployments on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mpc.config import PartyConfig, load_config
from mpc.deployment import create_deployment
from mpc.local import free_ports


@pytest.fixture
def deployment(tmp_path: Path) -> Callable[..., list[PartyConfig]]:
    """Return a factory: deployment(count, threshold) -> the parties' loaded configs."""

    def make(count: int, threshold: int, name: str = "deploy") -> list[PartyConfig]:
        paths = create_deployment(tmp_path / name, count, threshold, ports=free_ports(count))
        return [load_config(path) for path in paths]

    return make
