"""Serve an engine's :class:`~escalate.metrics.Metrics` over HTTP for Prometheus
to scrape (``escalate run --metrics-port``), with the standard library only."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from escalate.errors import ConfigError
from escalate.metrics import Metrics

__all__ = ["MetricsServer"]

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer:
    """``GET /metrics`` answers :meth:`Metrics.exposition`, from a daemon
    thread, until :meth:`close`. Port 0 picks a free port (see ``port``).

    Raises:
        ConfigError: The address cannot be bound (in use, not allowed).
    """

    def __init__(self, metrics: Metrics, *, port: int, host: str = "127.0.0.1") -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics is here")
                    return
                body = metrics.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", _CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes are not news

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:
            raise ConfigError(
                f"--metrics-port: cannot serve metrics on {host}:{port}: {e}"
            ) from e
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="escalate-metrics", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
