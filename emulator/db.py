"""The single SQLite file behind the emulator: WAL mode, one connection per thread."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path


class Database:
    """Opens connections to one SQLite file.

    WAL lets the query side read while Bulk processing writes. sqlite3 connections must not be
    shared between threads by default, so ``connect()`` hands each thread its own, cached.
    ``new_connection()`` gives an uncached one for long-lived readers (Query V2 cursors).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self.new_connection()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()

    def new_connection(self, *, check_same_thread: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=check_same_thread
        )
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA cache_size=-65536")
        return conn

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode; use explicit BEGIN for transactions)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.new_connection(check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()
