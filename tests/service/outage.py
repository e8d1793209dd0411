"""Real app-store outages for the service tests: the database goes away, then comes back.

- SQLite: the database's folder is renamed away and the engine's pooled
  connections are closed, so every new connection fails with "unable to open
  database file"; renaming it back restores it.
- PostgreSQL / MariaDB: the app talks to the server through a loopback TCP
  proxy; ``down`` closes the proxy's port and cuts every open connection, so the
  driver sees reset connections and then "connection refused" on a port where
  nothing listens; ``up`` listens on the same port again.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.engine import Engine


class TcpProxy:
    """A loopback TCP proxy to ``(host, port)`` that can be stopped and restarted on one port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        with socket.socket() as s:          # a free port, kept across down/up
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._listener: socket.socket | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        """Listen on :attr:`port` and forward every connection to the target."""
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        """Close the port and cut every forwarded connection."""
        if self._listener is not None:
            try:   # wakes the accept() blocked in another thread (close alone does not, on Linux)
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return                       # closed by down()
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Outage:
    """An app store the test can take down and bring back; the app connects at :attr:`url`.

    Args:
        backend: ``sqlite``, ``postgresql`` or ``mariadb`` (the ``app_db`` param).
        server_url: the migrated database of ``app_db`` (ignored for SQLite).
        tmp: a folder for the SQLite database (its own subfolder is renamed).
    """

    def __init__(self, backend: str, server_url: str, tmp: Path) -> None:
        self.backend = backend
        self.proxy: TcpProxy | None = None
        if backend == "sqlite":
            self.folder = tmp / "outage-db"
            self.url = f"sqlite:///{self.folder / 'app.db'}"
        else:
            u = make_url(server_url)
            self.proxy = TcpProxy(u.host or "127.0.0.1", u.port or (5432 if backend == "postgresql" else 3306))
            self.proxy.up()
            self.url = u.set(host="127.0.0.1", port=self.proxy.port).render_as_string(hide_password=False)
        self.is_down = False

    def down(self, engine: Engine) -> None:
        """Make the database unreachable for ``engine`` (the app's)."""
        if self.proxy is not None:
            self.proxy.down()
        else:
            self.folder.rename(self.folder.with_name("outage-db-gone"))
            engine.dispose()                 # open SQLite files would keep working otherwise
        self.is_down = True

    def up(self) -> None:
        """Bring the database back."""
        if self.proxy is not None:
            self.proxy.up()
        else:
            self.folder.with_name("outage-db-gone").rename(self.folder)
        self.is_down = False

    def close(self) -> None:
        """Back up (so teardown can drop the database), then stop the proxy."""
        if self.is_down:
            self.up()
        if self.proxy is not None:
            self.proxy.down()
