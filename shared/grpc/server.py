"""gRPC server bootstrap: health, reflection, and one interceptor for auth, logs and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from shared import metrics
from shared.grpc.auth import (
    AccessPolicy,
    Authenticator,
    PermissionDenied,
    Unauthenticated,
    reset_principal,
    set_principal,
)
from shared.logging import get_logger

log = get_logger(__name__)


# (method, subject or "" when unknown, gRPC status name, message): told of every refused call.
RefusalHook = Callable[[str, str, str, str], None]


@dataclass(frozen=True)
class GrpcService:
    """A servicer and how to register it: the generated ``add_XServicer_to_server``."""

    name: str  # full name, e.g. "voxloop.v1.IngestService"
    servicer: Any
    register: Callable[[Any, grpc.Server], None]

    @classmethod
    def of(
        cls, pb2_module: Any, short_name: str, servicer: Any, register: Callable[[Any, grpc.Server], None]
    ) -> GrpcService:
        return cls(pb2_module.DESCRIPTOR.services_by_name[short_name].full_name, servicer, register)


def _status_code(context: grpc.ServicerContext) -> str:
    code = context.code() if hasattr(context, "code") else None
    return code.name if isinstance(code, grpc.StatusCode) else "OK"


class ServiceInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Authenticates, times, counts and logs every call (auth failures included)."""

    def __init__(
        self, service: str, policy: AccessPolicy, auth: Authenticator, on_refused: RefusalHook | None = None
    ) -> None:
        self._service = service
        self._policy = policy
        self._auth = auth
        self._on_refused = on_refused

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method
        metadata = {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}

        @contextmanager
        def call_scope(context: grpc.ServicerContext) -> Iterator[None]:
            started = time.perf_counter()
            try:
                principal = self._policy.check(method, metadata, self._auth)
            except Unauthenticated as exc:
                self._refused(method, "", "UNAUTHENTICATED", str(exc), started)
                context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            except PermissionDenied as exc:
                self._refused(method, exc.subject, "PERMISSION_DENIED", str(exc), started)
                context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
            token = set_principal(principal)
            code = "UNKNOWN"  # an exception that escapes the servicer
            try:
                yield
                code = _status_code(context)
            except Exception:
                code = _status_code(context)
                code = "UNKNOWN" if code == "OK" else code
                raise
            finally:
                reset_principal(token)
                self._record(method, code, started)

        def wrap(behavior: Callable[..., Any], streaming_response: bool) -> Callable[..., Any]:
            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                with call_scope(context):
                    return behavior(request, context)

            def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                with call_scope(context):
                    yield from behavior(request, context)

            return streaming if streaming_response else unary

        kind = (handler.request_streaming, handler.response_streaming)
        make = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[kind]
        behavior = {
            (False, False): handler.unary_unary,
            (False, True): handler.unary_stream,
            (True, False): handler.stream_unary,
            (True, True): handler.stream_stream,
        }[kind]
        return make(
            wrap(behavior, streaming_response=handler.response_streaming),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _refused(self, method: str, subject: str, code: str, message: str, started: float) -> None:
        self._record(method, code, started)
        if self._on_refused is not None:
            try:
                self._on_refused(method, subject, code, message)
            except Exception:  # the refusal stands even if recording it failed
                log.exception("refusal hook failed", method=method)

    def _record(self, method: str, code: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        metrics.GRPC_REQUESTS.labels(self._service, method, code).inc()
        metrics.GRPC_SECONDS.labels(self._service, method).observe(elapsed)
        log.info("grpc call", method=method, code=code, ms=round(elapsed * 1000, 2))


@dataclass
class RunningServer:
    server: grpc.Server
    health: health.HealthServicer
    port: int
    service_names: list[str]

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self.service_names]:
            self.health.set(name, status)

    def stop(self, grace_s: float) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()


def start_server(
    service: str,
    services: Sequence[GrpcService],
    host: str,
    port: int,
    policy: AccessPolicy,
    auth: Authenticator,
    max_workers: int = 8,
    max_message_bytes: int = 4 * 1024 * 1024,
    on_refused: RefusalHook | None = None,
    tls: tuple[bytes, bytes] | None = None,
) -> RunningServer:
    """Start a server with the services plus health and reflection; port 0 picks a free one."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=[ServiceInterceptor(service, policy, auth, on_refused)],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    for item in services:
        item.register(item.servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [s.name for s in services]
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    address = f"{host}:{port}"
    if tls is not None:  # (PEM certificate chain, PEM private key)
        bound = server.add_secure_port(address, grpc.ssl_server_credentials([(tls[1], tls[0])]))
    else:
        bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot bind gRPC port {host}:{port}")
    server.start()
    running = RunningServer(server, health_servicer, bound, names)
    running.set_serving(True)
    return running
