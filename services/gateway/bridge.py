"""JSON in, gRPC out: the browser's calls forwarded to dispatch with the caller's own token.

The gateway decides nothing. Dispatch authenticates, authorises and audits every call exactly as
it does for the terminal client; the bridge only translates proto3 JSON and status codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.message import Message

from protos import dispatch_pb2, quality_pb2

DISPATCH = dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"]
QUALITY = quality_pb2.DESCRIPTOR.services_by_name["QualityService"]

# What a linguist's screen calls. Admin calls (people, tokens) stay on the command line.
BRIDGED_METHODS = (
    "WhoAmI",
    "ListQueue",
    "ClaimNextTask",
    "GetTask",
    "SubmitCorrection",
    "SubmitLabels",
    "ReviewTask",
    "EscalateTask",
    "SkipTask",
    "ReleaseTask",
    "Heartbeat",
    "GetTranscriptHistory",
    "GetQueueStats",
    "GetAuditTrail",
)
REPORT_ROLES = frozenset({"qa_lead", "admin"})

HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 412,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class GatewayError(Exception):
    """A refusal as the browser sees it: a gRPC status name and a readable message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def body(self) -> bytes:
        return json.dumps({"code": self.code, "message": self.message}).encode()

    @classmethod
    def from_rpc(cls, exc: grpc.RpcError, target: str) -> GatewayError:
        code = exc.code()
        details = exc.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE:
            details = f"{target} cannot be reached ({details})"
        return cls(code.name, details)


@dataclass(frozen=True)
class AudioSpan:
    wav: bytes
    start_s: float
    end_s: float


def parse_request(method: str, body: bytes, service: Any = DISPATCH) -> Message:
    """The request message of ``method`` from its JSON; an empty body is the empty message."""
    descriptor = service.methods_by_name[method].input_type
    request = message_factory.GetMessageClass(descriptor)()
    if not body.strip():
        return request
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GatewayError("INVALID_ARGUMENT", f"{method}: the body is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise GatewayError("INVALID_ARGUMENT", f"{method}: the body must be a JSON object")
    try:
        json_format.ParseDict(raw, request)
    except json_format.ParseError as exc:
        raise GatewayError("INVALID_ARGUMENT", f"{method}: {exc}") from None
    return request


def to_json(message: Message) -> bytes:
    return json_format.MessageToJson(
        message, preserving_proto_field_name=True, indent=None, ensure_ascii=False
    ).encode()


def bearer_metadata(authorization: str) -> tuple[tuple[str, str], ...]:
    """The caller's ``Authorization`` header, passed on as is; without one, dispatch refuses."""
    return (("authorization", authorization),) if authorization else ()


class DispatchBridge:
    """One channel to dispatch (and one to quality), shared by every browser call."""

    def __init__(
        self, dispatch_target: str, quality_target: str = "", quality_token: str = "", timeout_s: float = 30
    ) -> None:
        self._dispatch_target = dispatch_target
        self._quality_target = quality_target
        self._quality_token = quality_token
        self._timeout_s = timeout_s
        self._dispatch = grpc.insecure_channel(dispatch_target)
        self._quality = grpc.insecure_channel(quality_target) if quality_target else None

    def close(self) -> None:
        self._dispatch.close()
        if self._quality is not None:
            self._quality.close()

    def call(self, method: str, body: bytes, authorization: str) -> bytes:
        """Forward one unary call; answer the response as JSON or raise ``GatewayError``."""
        if method not in BRIDGED_METHODS:
            raise GatewayError("NOT_FOUND", f"no bridged dispatch call {method!r}")
        request = parse_request(method, body)
        return to_json(self._unary(method, request, authorization))

    def audio(self, task_id: str, context_s: float, authorization: str) -> AudioSpan:
        """The task's ``StreamTaskAudio`` pieces joined into one WAV."""
        if not task_id:
            raise GatewayError("INVALID_ARGUMENT", "task_id is required")
        request = dispatch_pb2.StreamTaskAudioRequest(task_id=task_id, context_s=context_s)
        stub = self._dispatch.unary_stream(
            f"/{DISPATCH.full_name}/StreamTaskAudio",
            request_serializer=dispatch_pb2.StreamTaskAudioRequest.SerializeToString,
            response_deserializer=dispatch_pb2.AudioBytes.FromString,
        )
        try:
            pieces = list(stub(request, metadata=bearer_metadata(authorization), timeout=self._timeout_s))
        except grpc.RpcError as exc:
            raise GatewayError.from_rpc(exc, self._dispatch_target) from None
        if not pieces:
            raise GatewayError("NOT_FOUND", f"task {task_id} has no audio")
        return AudioSpan(b"".join(p.data for p in pieces), pieces[0].start_s, pieces[0].end_s)

    def linguist_report(self, body: bytes, authorization: str) -> bytes:
        """Quality's linguist figures, for callers dispatch knows as a QA lead or an admin."""
        me = self._unary("WhoAmI", dispatch_pb2.WhoAmIRequest(), authorization)
        assert isinstance(me, dispatch_pb2.User)
        if not REPORT_ROLES & set(me.roles):
            raise GatewayError(
                "PERMISSION_DENIED", f"linguist figures need the role qa_lead or admin; {me.subject} has none"
            )
        if self._quality is None:
            raise GatewayError("UNAVAILABLE", "no quality service is configured (GATEWAY_QUALITY_TARGET)")
        request = parse_request("GetLinguistReport", body, QUALITY)
        stub = self._quality.unary_unary(
            f"/{QUALITY.full_name}/GetLinguistReport",
            request_serializer=quality_pb2.LinguistReportRequest.SerializeToString,
            response_deserializer=quality_pb2.LinguistReport.FromString,
        )
        metadata = bearer_metadata(f"Bearer {self._quality_token}" if self._quality_token else "")
        try:
            return to_json(stub(request, metadata=metadata, timeout=self._timeout_s))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                # The gateway's own token, not the caller's: say so, so the page keeps its login.
                raise GatewayError(
                    "UNAVAILABLE",
                    "linguist figures are unavailable: the quality service refused the gateway's token "
                    "(GATEWAY_QUALITY_TOKEN, accepted by quality's AUTH_TOKENS)",
                ) from None
            raise GatewayError.from_rpc(exc, self._quality_target) from None

    def _unary(self, method: str, request: Message, authorization: str) -> Message:
        descriptor = DISPATCH.methods_by_name[method]
        response_class = message_factory.GetMessageClass(descriptor.output_type)
        stub = self._dispatch.unary_unary(
            f"/{DISPATCH.full_name}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        try:
            response: Message = stub(
                request, metadata=bearer_metadata(authorization), timeout=self._timeout_s
            )
        except grpc.RpcError as exc:
            raise GatewayError.from_rpc(exc, self._dispatch_target) from None
        return response
