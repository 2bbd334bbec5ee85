"""A throwaway PostgreSQL server for the scale-out tests, from the system's packages.

`initdb` in a temporary folder, `postgres` on a free loopback port, both as an unprivileged
user when the tests run as root (they refuse root); stopped and removed at the end. The
Swift tests have the same harness (Sources/SwitchyardTestSupport/TemporaryPostgres.swift).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from fake_upstream import free_port

USER = "switchyard"
NOBODY = 65534


def tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class PostgresServer:
    """`with PostgresServer() as server:` -- `server.create_database(name)` returns its URL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="switchyard-pg-"))
        self.process: subprocess.Popen | None = None

    def _as_user(self) -> dict:
        if os.getuid() != 0:
            return {}
        return {"user": NOBODY, "group": NOBODY, "extra_groups": []}

    def start(self) -> "PostgresServer":
        initdb, postgres = tool("initdb"), tool("postgres")
        if not initdb or not postgres:
            raise RuntimeError("PostgreSQL is not installed (initdb, postgres): apt-get install postgresql")
        if os.getuid() == 0:
            os.chown(self.directory, NOBODY, NOBODY)
        subprocess.run(
            [initdb, "-D", str(self.directory / "data"), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, cwd="/", **self._as_user())
        self.start_server()
        self.wait_until_ready()
        return self

    def start_server(self) -> None:
        postgres = tool("postgres")
        self.log = open(self.directory / "server.log", "ab")
        self.process = subprocess.Popen(
            [postgres, "-D", str(self.directory / "data"), "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={self.directory}", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=300"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd="/", **self._as_user())

    def wait_until_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if subprocess.run([tool("pg_isready") or "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER]).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start: {(self.directory / 'server.log').read_text(errors='replace')}")

    def create_database(self, name: str) -> str:
        subprocess.run([tool("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
                       check=True, capture_output=True)
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgres://{USER}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def psql(self, database: str, sql: str) -> str:
        result = subprocess.run([tool("psql") or "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database,
                                 "-At", "-c", sql], check=True, capture_output=True, text=True)
        return result.stdout.strip()

    def crash(self) -> None:
        """Stops the server at once, as a crash would (immediate shutdown: no checkpoint), keeping its files."""
        assert self.process is not None
        self.process.send_signal(signal.SIGQUIT)
        self.process.wait(timeout=30)

    def restart(self) -> None:
        """Starts the crashed server again on the same port and files."""
        self.start_server()
        self.wait_until_ready()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
