"""A throwaway PostgreSQL server for the tests: Debian's ``initdb`` and ``pg_ctl`` on a temp
folder, listening on 127.0.0.1 on a free port, stopped (and the folder deleted) at the end.

Each pytest-xdist worker starts its own (about 3 s), so workers never share a database. As
root the server runs as the ``postgres`` user (PostgreSQL refuses to run as root). Without the
binaries the tests that need the server skip, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresMissing(RuntimeError):
    """initdb/pg_ctl are not installed."""


def find_bin() -> Path:
    """The newest installed PostgreSQL's bin folder (``$AIDASH_POSTGRES_BIN`` if set)."""
    override = os.environ.get("AIDASH_POSTGRES_BIN")
    if override:
        if (Path(override) / "pg_ctl").exists():
            return Path(override)
        raise PostgresMissing(f"PostgreSQL is not installed (no pg_ctl in {override}); run "
                              "`make system-deps` as root")
    found = sorted(glob.glob(BIN_GLOB), key=lambda p: int(Path(p).parent.name)
                   if Path(p).parent.name.isdigit() else 0)
    for folder in reversed(found):
        if (Path(folder) / "pg_ctl").exists() and (Path(folder) / "initdb").exists():
            return Path(folder)
    raise PostgresMissing("PostgreSQL is not installed (no initdb/pg_ctl under "
                          f"{BIN_GLOB}); run `make system-deps` as root")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server; :meth:`url` names one of its databases."""

    folder: Path
    port: int
    bin: Path
    as_user: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def libpq(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        """An autocommit connection to the ``postgres`` database (CREATE/DROP DATABASE)."""
        return psycopg.connect(self.libpq(), autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template``); its SQLAlchemy URL."""
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"),
                        "-m", "immediate", "-w", "stop"], check=False, capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


# The tests' settings: nothing a test checks depends on surviving a power cut.
TEST_SETTINGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def start_server(settings: str = TEST_SETTINGS) -> PostgresServer:
    """initdb a temp folder and start a server on 127.0.0.1 on a free port.

    :param settings: further ``-c name=value`` options of the server.
    """
    bin_dir = find_bin()
    folder = Path(tempfile.mkdtemp(prefix="aidash-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    # The C collation: text compares byte by byte, as in SQLite (see README, "Moving to
    # PostgreSQL"); UTF-8 text all the same.
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres", "-E", "UTF8", "--locale", "C"],
                   check=True, capture_output=True)
    for attempt in range(5):
        port = _free_port()
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 "
                   f"-c max_connections=100 {settings}")
        started = subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
             "-l", str(folder / "server.log"), "-w", "start"], check=False,
            capture_output=True, text=True)
        if started.returncode == 0:
            return PostgresServer(folder, port, bin_dir, as_user)
        if attempt == 4:
            log = (folder / "server.log").read_text(errors="replace")[-2000:]
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")
    raise AssertionError("unreachable")
