"""``--from-dir`` and ``--hf``: other copies of the models, checked against the same pins.

Hugging Face is unreachable here, so a real ``http.server`` in a thread serves files in HF's
URL layout (``/<repo>/resolve/<revision>/<file>``), with a gated repo and a CDN redirect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from model_wheels import Synthetic

from shared.models.errors import (
    ChecksumMismatch,
    FileSetMismatch,
    InvalidRequest,
    SourceUnavailable,
)
from shared.models.integrity import Status
from shared.models.provision import Outcome, provision, verify_models
from shared.models.sources import DirSource, HFSource

TOKEN = "hf_test_token"


def test_from_dir_with_the_pinned_files(synthetic: Synthetic, models_dir: Path, tmp_path: Path) -> None:
    copy = synthetic.write_model_dir(tmp_path / "my-copy", "tiny")
    [result] = provision(["tiny"], models_dir, DirSource(copy), catalog=synthetic.catalog)
    assert result.outcome is Outcome.PROVISIONED and result.pinned
    assert synthetic.index.calls == []
    card = json.loads((models_dir / "tiny" / "MODEL_CARD.json").read_text())
    assert card["source"] == {"kind": "dir", "path": str(copy.resolve())}
    assert verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)[0].status is Status.VERIFIED


def test_from_another_models_directory(synthetic: Synthetic, models_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-models"
    synthetic.write_model_dir(other / "tiny", "tiny")
    synthetic.write_model_dir(other / "solo-dir", "solo-model")
    results = provision(None, models_dir, DirSource(other), catalog=synthetic.catalog)
    assert all(r.pinned for r in results)
    assert (models_dir / "solo-dir" / "weights.pt").is_file()


def _other_conversion(synthetic: Synthetic, folder: Path) -> Path:
    """The same model as another publisher ships it: vocabulary.txt, a different model.bin."""
    synthetic.write_model_dir(folder, "tiny")
    (folder / "model.bin").write_bytes(b"another conversion")
    (folder / "vocabulary.txt").write_text("a\nb\n")
    (folder / "LICENSE").unlink()
    return folder


def test_from_dir_with_another_copy_needs_no_verify(
    synthetic: Synthetic, models_dir: Path, tmp_path: Path
) -> None:
    copy = _other_conversion(synthetic, tmp_path / "custom")
    with pytest.raises(ChecksumMismatch, match="--no-verify"):
        provision(["tiny"], models_dir, DirSource(copy), catalog=synthetic.catalog)
    assert not (models_dir / "tiny").exists()

    [result] = provision(["tiny"], models_dir, DirSource(copy), verify=False, catalog=synthetic.catalog)
    assert result.outcome is Outcome.PROVISIONED and not result.pinned
    card = json.loads((models_dir / "tiny" / "MODEL_CARD.json").read_text())
    recorded = {f["path"]: f["size_bytes"] for f in card["files"]}
    assert card["pinned"] is False
    assert recorded == {"model.bin": 18, "tokenizer.json": 22, "vocabulary.txt": 4}
    [state] = verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)
    assert state.status is Status.UNPINNED


def test_unpinned_copy_is_kept_by_a_plain_fetch_and_replaced_by_force(
    synthetic: Synthetic, models_dir: Path, tmp_path: Path
) -> None:
    copy = _other_conversion(synthetic, tmp_path / "custom")
    provision(["tiny"], models_dir, DirSource(copy), verify=False, catalog=synthetic.catalog)

    [kept] = provision(["tiny"], models_dir, synthetic.source(), catalog=synthetic.catalog)
    assert kept.outcome is Outcome.KEPT_UNPINNED and synthetic.index.calls == []

    [replaced] = provision(["tiny"], models_dir, synthetic.source(), force=True, catalog=synthetic.catalog)
    assert replaced.pinned and not (models_dir / "tiny" / "vocabulary.txt").exists()


def test_unpinned_copy_is_checked_against_its_card(
    synthetic: Synthetic, models_dir: Path, tmp_path: Path
) -> None:
    copy = _other_conversion(synthetic, tmp_path / "custom")
    provision(["tiny"], models_dir, DirSource(copy), verify=False, catalog=synthetic.catalog)
    (models_dir / "tiny" / "vocabulary.txt").write_text("tampered\n")
    [state] = verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)
    assert state.status is Status.CORRUPT and state.problems[0].startswith("vocabulary.txt")


def test_from_dir_without_model_files(synthetic: Synthetic, models_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceUnavailable, match="holds none of the files"):
        provision(["tiny"], models_dir, DirSource(tmp_path / "empty"), catalog=synthetic.catalog)
    with pytest.raises(SourceUnavailable, match="no such folder"):
        provision(["tiny"], models_dir, DirSource(tmp_path / "absent"), catalog=synthetic.catalog)


# --- Hugging Face over plain HTTPS, against a local stand-in -------------------------------


@dataclass
class FakeHub:
    """Repos as ``{repo: {revision: {file: bytes}}}``; ``gated`` repos need the bearer token."""

    repos: dict[str, dict[str, dict[str, bytes]]]
    gated: set[str] = field(default_factory=set)
    cdn_url: str = ""
    seen_auth: dict[str, str | None] = field(default_factory=dict)  # path -> Authorization
    truncate: set[str] = field(default_factory=set)  # files sent short, then the socket closes


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hub(synthetic: Synthetic) -> Iterator[tuple[FakeHub, str]]:
    """A hub at one port, its CDN at another (a different host for the redirect rule)."""
    files = dict(synthetic.contents["tiny"])
    del files["LICENSE"]
    state = FakeHub(
        repos={
            "org/tiny": {"main": files, "v1": files},
            "org/gated-tiny": {"main": files},
            "other/tiny-ct2": {"main": {**files, "vocabulary.txt": b"a\nb\n"}},
        },
        gated={"org/gated-tiny"},
    )
    del state.repos["other/tiny-ct2"]["main"]["tokenizer.json"]

    class Cdn(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen_auth[self.path] = self.headers.get("Authorization")
            repo, _, rest = self.path.removeprefix("/blobs/").partition("/-/")
            revision, _, name = rest.partition("/")
            _send(self, state.repos[repo][revision][name], truncate=name in state.truncate)

        def log_message(self, *args: object) -> None:
            pass

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen_auth[self.path] = self.headers.get("Authorization")
            repo, _, rest = self.path.lstrip("/").partition("/resolve/")
            revision, _, name = rest.partition("/")
            if repo in state.gated and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_error(401)
                return
            data = state.repos.get(repo, {}).get(revision, {}).get(name)
            if data is None:
                self.send_error(404)
            elif name == "model.bin":  # large files live on the CDN, as on the real hub
                self.send_response(302)
                self.send_header("Location", f"{state.cdn_url}/blobs/{repo}/-/{revision}/{name}")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                _send(self, data, truncate=name in state.truncate)

        def log_message(self, *args: object) -> None:
            pass

    with _serve(Cdn) as cdn_url:
        state.cdn_url = cdn_url
        with _serve(Hub) as hub_url:
            yield state, hub_url


def _send(handler: BaseHTTPRequestHandler, data: bytes, truncate: bool) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data[: len(data) // 2] if truncate else data)
    if truncate:
        handler.close_connection = True


def test_hf_downloads_pinned_files(synthetic: Synthetic, models_dir: Path, hub: tuple[FakeHub, str]) -> None:
    state, url = hub
    source = HFSource("org/tiny", revision="v1", endpoint=url)
    [result] = provision(["tiny"], models_dir, source, catalog=synthetic.catalog)
    assert result.pinned
    for name in ("model.bin", "tokenizer.json"):
        assert (models_dir / "tiny" / name).read_bytes() == synthetic.contents["tiny"][name]
    card = json.loads((models_dir / "tiny" / "MODEL_CARD.json").read_text())
    assert card["source"] == {"kind": "hf", "repo_id": "org/tiny", "revision": "v1", "endpoint": url}


def test_hf_token_and_endpoint_from_env_and_token_stays_on_the_hub(
    synthetic: Synthetic,
    models_dir: Path,
    hub: tuple[FakeHub, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, url = hub
    monkeypatch.setenv("HF_ENDPOINT", url + "/")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    provision(["tiny"], models_dir, HFSource("org/gated-tiny"), catalog=synthetic.catalog)

    assert state.seen_auth["/org/gated-tiny/resolve/main/model.bin"] == f"Bearer {TOKEN}"
    assert state.seen_auth["/blobs/org/gated-tiny/-/main/model.bin"] is None  # not sent to the CDN
    assert verify_models(models_dir, ["tiny"], catalog=synthetic.catalog)[0].status is Status.VERIFIED


def test_hf_gated_without_token(
    synthetic: Synthetic, models_dir: Path, hub: tuple[FakeHub, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    _, url = hub
    with pytest.raises(SourceUnavailable, match="answered 401 .*HF_TOKEN"):
        provision(["tiny"], models_dir, HFSource("org/gated-tiny", endpoint=url), catalog=synthetic.catalog)
    assert not (models_dir / "tiny").exists()


def test_hf_other_layout_needs_no_verify(
    synthetic: Synthetic, models_dir: Path, hub: tuple[FakeHub, str]
) -> None:
    _, url = hub
    source = HFSource("other/tiny-ct2", endpoint=url)
    with pytest.raises(FileSetMismatch, match="missing: tokenizer.json; not pinned: vocabulary.txt"):
        provision(["tiny"], models_dir, source, catalog=synthetic.catalog)
    assert not (models_dir / "tiny").exists()

    [result] = provision(["tiny"], models_dir, source, verify=False, catalog=synthetic.catalog)
    assert not result.pinned
    assert sorted(f.path for f in result.files) == ["model.bin", "vocabulary.txt"]


def test_hf_download_broken_off_leaves_nothing(
    synthetic: Synthetic, models_dir: Path, hub: tuple[FakeHub, str]
) -> None:
    state, url = hub
    state.truncate.add("model.bin")
    with pytest.raises(SourceUnavailable, match="broke off"):
        provision(["tiny"], models_dir, HFSource("org/tiny", endpoint=url), catalog=synthetic.catalog)
    assert not (models_dir / "tiny").exists()
    assert not [p for p in models_dir.rglob("*") if p.is_file() and p.name != ".lock"]


def test_hf_unreachable(synthetic: Synthetic, models_dir: Path) -> None:
    source = HFSource("org/tiny", endpoint="http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(SourceUnavailable, match="cannot reach http://127.0.0.1:9"):
        provision(["tiny"], models_dir, source, catalog=synthetic.catalog)


def test_hf_takes_exactly_one_model(synthetic: Synthetic, models_dir: Path) -> None:
    with pytest.raises(InvalidRequest):
        provision(None, models_dir, HFSource("org/tiny"), catalog=synthetic.catalog)
