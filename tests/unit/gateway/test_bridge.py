"""The gateway's translation rules: JSON to request messages, statuses to HTTP, safe static paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from protos import dispatch_pb2, events_pb2
from services.gateway.bridge import BRIDGED_METHODS, DISPATCH, GatewayError, parse_request, to_json
from services.gateway.web import parse_context_s, static_file


def test_every_bridged_method_is_a_unary_dispatch_call() -> None:
    for name in BRIDGED_METHODS:
        method = DISPATCH.methods_by_name[name]
        assert not method.client_streaming and not method.server_streaming, name
    assert "IssueToken" not in BRIDGED_METHODS and "UpsertUser" not in BRIDGED_METHODS


def test_request_json_accepts_both_field_spellings_and_enum_names() -> None:
    snake = parse_request("ClaimNextTask", b'{"kinds": ["TASK_KIND_REVIEW"], "languages": ["en"]}')
    camel = parse_request("GetTask", b'{"taskId": "t1"}')
    assert snake == dispatch_pb2.ClaimNextTaskRequest(kinds=[events_pb2.TASK_KIND_REVIEW], languages=["en"])
    assert camel == dispatch_pb2.GetTaskRequest(task_id="t1")
    assert parse_request("WhoAmI", b"") == dispatch_pb2.WhoAmIRequest()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'{"task": "t1"}', 'has no field named "task"'),
        (b'{"context_s": "soon"}', "context_s"),
        (b'{"kinds": ["TASK_KIND_NONSENSE"]}', "TASK_KIND_NONSENSE"),
        (b"\xff\xfe", "the body is not JSON"),
    ],
)
def test_bad_request_bodies_are_invalid_arguments_that_say_what_is_wrong(body: bytes, says: str) -> None:
    method = "StreamTaskAudio" if b"context_s" in body else "ClaimNextTask" if b"kinds" in body else "GetTask"
    with pytest.raises(GatewayError) as refused:
        parse_request(method, body)
    assert refused.value.code == "INVALID_ARGUMENT" and refused.value.http_status == 400
    assert says in refused.value.message and method in refused.value.message


def test_answers_use_proto_field_names_and_leave_defaults_out() -> None:
    task = dispatch_pb2.Task(
        task_id="t1", kind=events_pb2.TASK_KIND_CORRECT, lease_expires_at={"seconds": 60}
    )
    assert to_json(task) == (
        b'{"task_id": "t1", "kind": "TASK_KIND_CORRECT", "lease_expires_at": "1970-01-01T00:01:00Z"}'
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("INVALID_ARGUMENT", 400),
        ("UNAUTHENTICATED", 401),
        ("PERMISSION_DENIED", 403),
        ("NOT_FOUND", 404),
        ("ABORTED", 409),
        ("FAILED_PRECONDITION", 412),
        ("UNAVAILABLE", 503),
        ("INTERNAL", 500),
    ],
)
def test_grpc_statuses_map_to_http_statuses(code: str, status: int) -> None:
    error = GatewayError(code, "why")
    assert error.http_status == status
    assert error.body() == f'{{"code": "{code}", "message": "why"}}'.encode()


def test_static_files_never_leave_their_folder(tmp_path: Path) -> None:
    root = tmp_path / "static"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html>")
    (root / "js" / "main.js").write_text("export {}")
    (tmp_path / "secret.txt").write_text("no")
    assert static_file(root, "/") == (root / "index.html").resolve()
    assert static_file(root, "/js/main.js") == (root / "js" / "main.js").resolve()
    for escape in ("/../secret.txt", "/js/../../secret.txt", "/%2e%2e/secret.txt", "/js"):
        assert static_file(root, escape) is None, escape


@pytest.mark.parametrize(("query", "value"), [("", 0.0), ("context_s=2", 2.0), ("context_s=10", 10.0)])
def test_context_s_is_read_from_the_query(query: str, value: float) -> None:
    assert parse_context_s(query) == value


@pytest.mark.parametrize("query", ["context_s=-1", "context_s=11", "context_s=soon"])
def test_context_s_out_of_range_is_refused(query: str) -> None:
    with pytest.raises(GatewayError) as refused:
        parse_context_s(query)
    assert refused.value.code == "INVALID_ARGUMENT" and "context_s" in refused.value.message


def test_answers_are_not_held_back_by_nagle_s_algorithm() -> None:
    # Measured: with it on, every call on a kept-alive connection waited 40 ms for a delayed ACK.
    from services.gateway.web import make_handler

    assert make_handler(object(), Path("."), 1024).disable_nagle_algorithm is True  # type: ignore[arg-type]
