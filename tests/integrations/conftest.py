from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..db_servers import Postgres, postgres_server, redis_server


@pytest.fixture(scope='session')
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster on a free local port, for the whole session; skips the test without one."""
    with postgres_server() as server:
        if isinstance(server, str):
            pytest.skip(server)
        yield server


@pytest.fixture(scope='session')
def redis_port() -> Iterator[int]:
    """A throwaway redis-server on a free local port, for the whole session; skips the test without one."""
    with redis_server() as server:
        if isinstance(server, str):
            pytest.skip(server)
        yield server
