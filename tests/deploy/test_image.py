"""Dockerfile and .dockerignore: the image the compose file and the manifests run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import pytest

from .contract import (
    DOCKERFILE,
    DOCKERIGNORE,
    GATEWAY,
    GRPC_PORT,
    HEALTHCHECK,
    HTTP_PORT,
    METRICS_PORT,
    REPO_ROOT,
)

STATIC = f"services/{GATEWAY}/static"
# An ES module's import of a file of the page: `from "./x.js"`, `import "./x.js"`, `import("./x.js")`.
IMPORT = re.compile(r"""(?:\bfrom|\bimport\(?)\s*["']((?:\.{1,2})?/[^"']+)["']""")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    result, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def stages(text: str) -> list[list[tuple[str, str]]]:
    """Instructions per build stage, with global ARG defaults substituted into FROM lines."""
    defaults: dict[str, str] = {}
    out: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(text):
        if keyword == "ARG" and not out:
            name, _, value = args.partition("=")
            defaults[name] = value
            continue
        if keyword == "FROM":
            args = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m[1] or m[2]], args)
            out.append([])
        out[-1].append((keyword, args))
    return out


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent folders wins;
    `!` re-includes; `**` spans folders."""
    excluded = False
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        regex = _dockerignore_regex(pattern.strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@pytest.fixture(scope="module")
def dockerfile_stages() -> list[list[tuple[str, str]]]:
    return stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_every_stage_is_python_311_slim(dockerfile_stages):
    for stage in dockerfile_stages:
        image = stage[0][1].split()[0]
        assert image == "python:3.11-slim", image


def test_the_image_installs_the_project_with_pip(dockerfile_stages):
    runs = " ".join(args for stage in dockerfile_stages for k, args in stage if k == "RUN")
    # With the speech stack (the `ml` extra): ingest and asr import faster-whisper and pyannote.
    assert re.search(r'pip wheel .*\s"\.\[ml\]"(\s|$)', runs), "wheels built from the repository"
    assert re.search(r'pip install .*--no-index.*\s"voxloop\[ml\]"(\s|$)', runs)
    assert "voxloop models fetch" in runs, "the offline models are in the image"
    assert "voxloop annotate train" in runs, "the annotation classifiers are in the image"


def test_the_package_data_carries_every_data_file_the_services_read() -> None:
    """The image installs a wheel, not the source tree: the corpus, the training config and the
    calibration must be package data, or the annotate service in the image has none of them."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["*"]
    annotate = REPO_ROOT / "services" / "annotate"
    files = [
        p
        for p in annotate.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    ]
    assert any(p.suffix == ".jsonl" for p in files) and any(p.suffix == ".cfg" for p in files)
    missing = [
        str(p.relative_to(REPO_ROOT))
        for p in files
        if not any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    ]
    assert missing == [] or missing == ["services/annotate/corpus/README.md"], missing


def test_the_runtime_stage_matches_the_service_contract(dockerfile_stages):
    runtime = dict(dockerfile_stages[-1][1:])  # last instruction of each kind wins
    check = runtime["HEALTHCHECK"]
    assert json.loads(check[check.index("CMD") + 3 :].strip()) == HEALTHCHECK
    # The gateway's page is the only HTTP port; every service has the other two.
    assert set(runtime["EXPOSE"].split()) == {str(GRPC_PORT), str(METRICS_PORT), str(HTTP_PORT)}
    env = runtime["ENV"]
    assert f"VOXLOOP_GRPC_PORT={GRPC_PORT}" in env and f"VOXLOOP_METRICS_PORT={METRICS_PORT}" in env
    user = runtime["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0, "a numeric, non-root user (runAsNonRoot checks it)"


def test_k8s_user_matches_the_image_user(dockerfile_stages):
    uid = int(dict(dockerfile_stages[-1][1:])["USER"].split(":")[0])
    for path in (REPO_ROOT / "k8s" / "base" / "services").glob("*.yaml"):
        assert f"runAsUser: {uid}" in path.read_text(), path.name


def test_what_the_build_copies_is_in_the_build_context(dockerfile_stages, ignore_patterns):
    for stage in dockerfile_stages:
        for keyword, args in stage:
            if keyword != "COPY" or "--from" in args:
                continue
            *sources, _ = [a for a in args.split() if not a.startswith("--")]
            for source in sources:
                assert not dockerignore_excludes(source.rstrip("/"), ignore_patterns), source


def test_the_build_context_holds_the_package_and_nothing_else(ignore_patterns):
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    kept = [
        "pyproject.toml",
        project["project"]["readme"],
        "shared/grpc/healthcheck.py",
        *(f"{p}/__init__.py" for p in packages),
        f"{STATIC}/index.html",
        f"{STATIC}/js/api.js",
        f"{STATIC}/app.css",
        f"{STATIC}/icon.svg",
    ]
    for path in kept:
        assert not dockerignore_excludes(path, ignore_patterns), f"{path} must reach the build"
    dropped = [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/deploy/test_image.py",
        "k8s/base/x.yaml",
        ".voxloop/data/ingest.db",
        "shared/__pycache__/settings.cpython-311.pyc",
        "docker-compose.yml",
        ".env",
    ]
    for path in dropped:
        assert dockerignore_excludes(path, ignore_patterns), f"{path} must stay out of the build"


@pytest.mark.parametrize(
    ("path", "patterns", "excluded"),
    [
        ("a/b/c.py", ["a"], True),
        ("a/b/c.py", ["*", "!a/"], False),
        ("a/__pycache__/x.pyc", ["*", "!a/", "**/__pycache__"], True),
        ("ab", ["a?"], True),
        ("a/b", ["a/*/c"], False),
    ],
)
def test_dockerignore_matcher(path, patterns, excluded):
    assert dockerignore_excludes(path, patterns) is excluded


# --- the wheel the image installs ------------------------------------------------------------


def build_context(dockerfile_stages, ignore_patterns) -> list[str]:
    """The files the build stage copies (COPY sources, less what .dockerignore drops), as
    paths relative to the repository."""
    (build,) = [s for s in dockerfile_stages if any(k == "RUN" and "pip wheel" in a for k, a in s)]
    kept = []
    for keyword, args in build:
        if keyword != "COPY" or "--from" in args:
            continue
        *sources, _ = [a for a in args.split() if not a.startswith("--")]
        for source in sources:
            root = REPO_ROOT / source
            paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            for path in paths:
                relative = path.relative_to(REPO_ROOT).as_posix()
                if not dockerignore_excludes(relative, ignore_patterns):
                    kept.append(relative)
    return kept


@pytest.fixture(scope="module")
def wheel_names(dockerfile_stages, ignore_patterns, tmp_path_factory) -> set[str]:
    """Build the project's wheel as the image's build stage does, from a copy of the build
    context only (so a file .dockerignore drops is missing here too), and list its files."""
    context = tmp_path_factory.mktemp("context")
    for relative in build_context(dockerfile_stages, ignore_patterns):
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, context / relative)
    out = tmp_path_factory.mktemp("wheel")
    build = "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=context, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_the_gateway_client(wheel_names: set[str]):
    """The gateway serves its page from its package folder: in the image, that is the wheel."""
    static = sorted(
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / STATIC).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert f"{STATIC}/index.html" in static
    assert [path for path in static if path not in wheel_names] == []
    assert f"services/{GATEWAY}/__main__.py" in wheel_names


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def _static_path(url: str) -> str | None:
    """The file under static/ the gateway answers for a same-origin URL (as its web.py maps
    them: /static/x and /x are both static/x; / is index.html); None for other origins."""
    parts = urlsplit(url)
    if parts.netloc != "gateway":
        return None
    if parts.path in {"", "/"}:
        return "index.html"
    return parts.path.removeprefix("/static/") if parts.path.startswith("/static/") else parts.path[1:]


def test_every_file_the_page_loads_is_in_the_wheel(wheel_names: set[str]):
    """What index.html links and what its modules import must ship too, or the image serves a
    page whose scripts answer 404."""
    root = REPO_ROOT / STATIC
    page = _References()
    page.feed((root / "index.html").read_text())
    wanted = {urljoin("http://gateway/", url) for url in page.urls if not url.startswith("#")}
    for script in root.rglob("*.js"):
        base = f"http://gateway/static/{script.relative_to(root).as_posix()}"
        for spec in IMPORT.findall(script.read_text()):
            wanted.add(urljoin(base, spec))
    paths = {path for path in map(_static_path, wanted) if path}
    missing = sorted(path for path in paths if f"{STATIC}/{path}" not in wheel_names)
    assert missing == [], f"the page loads {missing}, which the image does not have"
