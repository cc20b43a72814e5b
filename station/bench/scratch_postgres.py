"""A throwaway PostgreSQL server from Debian's `postgresql` package, for the plant
benchmark and the plant tests (tests/postgres_server.py wraps it in fixtures).

`scratch_postgres()`: `initdb` into a fresh directory under /tmp, then `postgres` on a
free loopback port with its unix socket in that directory; trust authentication for the
user `plant`; fsync off unless `durable` (the tests are about our code, not PostgreSQL's
durability; a benchmark of the collector keeps fsync on, as a plant would). As root,
initdb and postgres run as `nobody` (`setpriv`; PostgreSQL refuses to run as root), so
the directory is made under /tmp, which nobody can reach. Stopped (fast shutdown) and
removed on exit. `NoPostgres` when the binaries are absent (/usr/lib/postgresql/*/bin).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from station.simulation.ports import free_port

START_S = 30.0
STOP_S = 30.0
USER = "plant"
UNPRIVILEGED = "nobody"


class NoPostgres(Exception):
    """PostgreSQL is not installed; one line."""


def postgres_bin() -> Path | None:
    """The bin directory of the newest PostgreSQL installed, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


@dataclass
class PostgresServer:
    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    argv: list[str]
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def stop(self) -> None:
        """Fast shutdown (a test restarting the database mid-ingest; then `start`)."""
        _stop(self.process)

    def start(self) -> None:
        """Start it again on the same port and data, once it accepts connections."""
        with (self.directory / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
            )
        _until_accepting(self)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(statement)

    def new_database(self, prefix: str = "plant_test") -> str:
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        return name

    def log(self) -> str:
        path = self.directory / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def size(self, database: str) -> int:
        """Bytes on disk of `database` (pg_database_size)."""
        import psycopg

        with psycopg.connect(self.url(database)) as connection:
            row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0


def _as_unprivileged(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    # setpriv execs the command itself (runuser forks and keeps itself in between): the
    # signals that stop postgres reach it
    user = pwd.getpwnam(UNPRIVILEGED)
    ids = ["--reuid", str(user.pw_uid), "--regid", str(user.pw_gid), "--clear-groups"]
    return ["setpriv", *ids, *argv]


def _accepting(server: PostgresServer) -> bool:
    import psycopg

    try:
        with psycopg.connect(server.url(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _until_accepting(server: PostgresServer) -> None:
    deadline = time.monotonic() + START_S
    while not _accepting(server):
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"postgres did not start on port {server.port}:\n{server.log()}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def scratch_postgres(*, durable: bool = False) -> Iterator[PostgresServer]:
    """A new PostgreSQL server, accepting connections; stopped and removed on exit."""
    binaries = postgres_bin()
    if binaries is None:
        raise NoPostgres(
            "PostgreSQL not installed (Debian package postgresql: /usr/lib/postgresql)"
        )
    directory = Path(tempfile.mkdtemp(prefix="plant-postgres-"))
    try:
        if os.geteuid() == 0:
            nobody = pwd.getpwnam(UNPRIVILEGED)
            os.chown(directory, nobody.pw_uid, nobody.pw_gid)
        data = directory / "data"
        subprocess.run(
            _as_unprivileged(
                [
                    *(str(binaries / "initdb"), "-D", str(data), "-U", USER, "-A", "trust"),
                    *("-E", "UTF8", "--no-sync", "--no-instructions"),
                ]
            ),
            check=True,
            capture_output=True,
            cwd=directory,
            timeout=120,
        )
        port = free_port()
        settings = [] if durable else ["-c", "fsync=off", "-c", "full_page_writes=off"]
        argv = _as_unprivileged(
            [
                *(str(binaries / "postgres"), "-D", str(data), "-p", str(port)),
                *("-k", str(directory), "-c", "listen_addresses=127.0.0.1", *settings),
            ]
        )
        with (directory / "postgres.log").open("ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
        server = PostgresServer(directory, port, process, argv)
        try:
            _until_accepting(server)
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
