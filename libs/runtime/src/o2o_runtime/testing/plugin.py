"""pytest fixtures of the harness.

`platform` is session-scoped and parametrized by database backend (sqlite, postgres), so
each test that uses it runs against both; so is `new_database`, for tests of storage code
without services. O2O_TEST_BACKENDS=sqlite narrows a local run. `gateway` is an HTTP client
of the gateway in front of the built services, as partner apps reach them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Table
from sqlmodel import SQLModel

from o2o_runtime.db import Database
from o2o_runtime.registry import service_names
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import NatsServer, Postgres

BACKENDS = [b for b in os.environ.get("O2O_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


@pytest.fixture(scope="session")
def o2o_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("o2o")


@pytest.fixture(scope="session")
def nats(o2o_workdir: Path) -> Iterator[NatsServer]:
    server = NatsServer(o2o_workdir / "nats", o2o_workdir / "nats.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(o2o_workdir: Path) -> Iterator[Postgres]:
    server = Postgres(o2o_workdir / "pg")
    yield server
    server.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def platform(request: pytest.FixtureRequest, o2o_workdir: Path, nats: NatsServer) -> AsyncIterator[Platform]:
    backend = str(request.param)
    postgres = request.getfixturevalue("postgres") if backend == "postgres" else None
    workdir = o2o_workdir / backend
    workdir.mkdir(exist_ok=True)
    running = Platform(backend, workdir, nats, postgres)
    yield running
    await running.close()


@pytest.fixture(scope="session")
async def chain(platform: Platform) -> Chain:
    return Chain(platform)


# The services behind the tests' gateway: every one installed (found by entry point, as
# `o2o up` finds them), so a new service's routes are tested through the gateway at once.
GATEWAY_UPSTREAMS = tuple(service_names())


@pytest.fixture(scope="session")
async def gateway(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    # One gateway per platform, whichever tests reach it first. A revoked key must stop working
    # quickly: a short exchange cache shows it within a test. The rate limit is high here:
    # floods are tested on a gateway of their own.
    running = platform.gateway(
        GATEWAY_UPSTREAMS,
        {"GATEWAY_API_KEY_CACHE_S": "0.5", "GATEWAY_RATE_PER_S": "1000", "GATEWAY_RATE_BURST": "2000"},
    )
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        yield client


@pytest.fixture(params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_database_url(database_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes URLs of new, empty databases on the backend: a file for SQLite, a database of the
    session's server for PostgreSQL."""

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        if database_backend == "postgres":
            postgres: Postgres = request.getfixturevalue("postgres")
            return postgres.database_url(name)
        return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"

    return make


@pytest.fixture
async def new_database(new_database_url: Callable[[], str]) -> AsyncIterator[Callable[..., Awaitable[Database]]]:
    """Makes a new database with the given tables (SQLModel classes or tables) on the backend."""
    made: list[Database] = []

    async def make(*tables: type[SQLModel] | Table) -> Database:
        database = Database(new_database_url())
        made.append(database)
        async with database.engine.begin() as connection:
            for table in tables:
                chosen = table if isinstance(table, Table) else SQLModel.metadata.tables[str(table.__tablename__)]
                await connection.run_sync(chosen.create)
        return database

    yield make
    for database in made:
        await database.dispose()
