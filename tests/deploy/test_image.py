"""Dockerfile and .dockerignore: the image the compose file and the manifests run."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import PurePosixPath

import pytest

from .contract import DOCKERFILE, DOCKERIGNORE, GRPC_PORT, HEALTHCHECK, METRICS_PORT, REPO_ROOT


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
    assert set(runtime["EXPOSE"].split()) == {str(GRPC_PORT), str(METRICS_PORT)}
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
