"""The HTTP side: the static page, ``/healthz``, and ``/api/`` routes over the bridge (thin)."""

from __future__ import annotations

import mimetypes
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from services.gateway.bridge import DispatchBridge, GatewayError
from shared import metrics
from shared.logging import get_logger

log = get_logger(__name__)

# The page loads nothing from elsewhere; audio plays from blob: URLs made of fetched WAVs.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
MAX_CONTEXT_S = 10.0


def static_file(root: Path, url_path: str) -> Path | None:
    """The file under ``root`` a URL names, or None (never a path outside ``root``)."""
    relative = unquote(url_path).lstrip("/") or "index.html"
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
        return None
    return candidate


def parse_context_s(query: str) -> float:
    raw = parse_qs(query).get("context_s", ["0"])[0]
    try:
        value = float(raw)
    except ValueError:
        raise GatewayError(
            "INVALID_ARGUMENT", f"context_s must be a number of seconds, not {raw!r}"
        ) from None
    if not 0 <= value <= MAX_CONTEXT_S:
        raise GatewayError(
            "INVALID_ARGUMENT", f"context_s must be between 0 and {MAX_CONTEXT_S:g}, not {raw}"
        )
    return value


def make_handler(
    bridge: DispatchBridge, static_root: Path, max_body_bytes: int
) -> type[BaseHTTPRequestHandler]:
    class GatewayHandler(BaseHTTPRequestHandler):
        server_version = "voxloop-gateway"
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle's algorithm on, a kept-alive
        # connection's second write waits for the peer's delayed ACK: 40 ms on every call.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._timed(self._get)

        def do_POST(self) -> None:
            self._timed(self._post)

        def _get(self) -> int:
            url = urlsplit(self.path)
            if url.path == "/healthz":
                return self._send(200, b"ok", "text/plain; charset=utf-8")
            parts = url.path.strip("/").split("/")
            if parts[:3] == ["api", "dispatch", "tasks"] and len(parts) == 5 and parts[4] == "audio":
                span = bridge.audio(unquote(parts[3]), parse_context_s(url.query), self._authorization())
                headers = {"X-Audio-Start-S": f"{span.start_s:.3f}", "X-Audio-End-S": f"{span.end_s:.3f}"}
                return self._send(200, span.wav, "audio/wav", headers)
            if url.path.startswith("/api/"):
                raise GatewayError("NOT_FOUND", f"no route GET {url.path}")
            relative = url.path.removeprefix("/static") if url.path.startswith("/static/") else url.path
            path = static_file(static_root, relative if relative != "/" else "index.html")
            if path is None:
                return self._send(404, b"not found", "text/plain; charset=utf-8")
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            return self._send(200, path.read_bytes(), kind, {"Cache-Control": "no-cache"})

        def _post(self) -> int:
            url = urlsplit(self.path)
            body = self._body()
            parts = url.path.strip("/").split("/")
            if parts[:2] == ["api", "dispatch"] and len(parts) == 3:
                answer = bridge.call(parts[2], body, self._authorization())
            elif parts == ["api", "quality", "linguists"]:
                answer = bridge.linguist_report(body, self._authorization())
            else:
                raise GatewayError("NOT_FOUND", f"no route POST {url.path}")
            return self._send(200, answer, "application/json")

        def _authorization(self) -> str:
            header = self.headers.get("Authorization", "")
            if not header:
                raise GatewayError(
                    "UNAUTHENTICATED", "the call needs an Authorization: Bearer <token> header"
                )
            return header

        def _body(self) -> bytes:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                raise GatewayError("INVALID_ARGUMENT", "Content-Length is not a number") from None
            if length > max_body_bytes:
                raise GatewayError("RESOURCE_EXHAUSTED", f"the body is {length} bytes, over {max_body_bytes}")
            return self.rfile.read(length) if length > 0 else b""

        def _timed(self, route: Callable[[], int]) -> None:
            started = time.perf_counter()
            try:
                status = route()
            except GatewayError as exc:
                status = self._send(exc.http_status, exc.body(), "application/json")
            except (BrokenPipeError, ConnectionResetError):
                # The page went away mid-answer (a reload, a closed tab): nothing to answer.
                log.info("client went away", path=urlsplit(self.path).path)
                self.close_connection = True
                return
            except Exception as exc:  # one broken call must not take the gateway down
                log.exception("gateway call failed", path=self.path)
                status = self._send(500, GatewayError("INTERNAL", repr(exc)).body(), "application/json")
            route_name = urlsplit(self.path).path if self.path.startswith("/api/") else "static"
            metrics.HTTP_REQUESTS.labels("gateway", route_name, str(status)).inc()
            log.info(
                "http",
                method=self.command,
                path=urlsplit(self.path).path,
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )

        def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> int:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return status

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
            pass  # every request is logged once, structured, in ``_timed``

    return GatewayHandler


class GatewayServer:
    """A threaded HTTP server on its own thread; ``port`` is the bound one (0 picks a free port)."""

    def __init__(self, bridge: DispatchBridge, host: str, port: int, static_root: Path, max_body_bytes: int):
        self._server = ThreadingHTTPServer((host, port), make_handler(bridge, static_root, max_body_bytes))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> GatewayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
