"""Real database servers for the tests: a throwaway PostgreSQL cluster and redis-server, each on a free local port.

Each starts in a temporary directory and is stopped afterwards. `find_*` returns None (and the tests skip, saying
why) when the server's programs are not on the machine. PostgreSQL refuses to run as root, so as root it runs as
the `postgres` system user, with the directory handed to it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

STARTUP_DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


def find_postgres_bin() -> Path | None:
    for candidate in sorted(glob.glob('/usr/lib/postgresql/*/bin'), reverse=True):
        if (Path(candidate) / 'initdb').exists() and (Path(candidate) / 'pg_ctl').exists():
            return Path(candidate)
    initdb = shutil.which('initdb')
    return Path(initdb).parent if initdb and shutil.which('pg_ctl') else None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    dbname: str

    @property
    def dsn(self) -> str:
        return f'postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}'


@contextlib.contextmanager
def postgres_server() -> Generator[Postgres | str]:
    """A running cluster, or the reason there is none."""
    bindir = find_postgres_bin()
    if bindir is None:
        yield 'PostgreSQL (initdb, pg_ctl) is not installed: apt-get install -y postgresql'
        return
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        if shutil.which('runuser') is None:
            yield 'running as root without runuser: PostgreSQL cannot start as root'
            return
        prefix = ['runuser', '-u', 'postgres', '--']
    tmp = tempfile.mkdtemp(prefix='logfire-pg-')
    data = Path(tmp) / 'data'
    if as_root:
        shutil.chown(tmp, 'postgres', 'postgres')
    port = free_port()
    user = 'postgres' if as_root else os.environ.get('USER', 'postgres')
    try:
        subprocess.run(
            [*prefix, str(bindir / 'initdb'), '-D', str(data), '-A', 'trust', '-U', user, '--no-sync'],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f'-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off'
        subprocess.run(
            [*prefix, str(bindir / 'pg_ctl'), '-D', str(data), '-o', options, '-l', f'{tmp}/log', '-w', 'start'],
            check=True,
            capture_output=True,
            timeout=STARTUP_DEADLINE + 30,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        yield f'PostgreSQL did not start: {exc}'
        return
    try:
        if not _wait_for_port(port, time.monotonic() + STARTUP_DEADLINE):
            yield f'PostgreSQL did not listen on 127.0.0.1:{port} within {STARTUP_DEADLINE}s'
            return
        yield Postgres('127.0.0.1', port, user, 'postgres')
    finally:
        subprocess.run(
            [*prefix, str(bindir / 'pg_ctl'), '-D', str(data), '-m', 'immediate', 'stop'],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Generator[int | str]:
    """The port of a running redis-server, or the reason there is none."""
    binary = shutil.which('redis-server')
    if binary is None:
        yield 'redis-server is not installed: apt-get install -y redis-server'
        return
    port = free_port()
    tmp = tempfile.mkdtemp(prefix='logfire-redis-')
    process = subprocess.Popen(
        [binary, '--port', str(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not _wait_for_port(port, time.monotonic() + STARTUP_DEADLINE):
            yield f'redis-server did not listen on 127.0.0.1:{port} within {STARTUP_DEADLINE}s'
            return
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
