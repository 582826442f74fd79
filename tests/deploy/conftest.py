"""Fixtures: the deployment files, parsed and rendered once per session."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
import yaml

from .contract import COMPOSE_FILE, GATEWAY, K8S_OVERLAYS, SERVICES, env_prefix
from .render import Manifest, interpolate, render_kustomization


@pytest.fixture(scope="session")
def compose_raw() -> dict[str, Any]:
    """docker-compose.yml as written (YAML anchors and merge keys resolved, no interpolation)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="session")
def compose(compose_raw: dict[str, Any]) -> dict[str, Any]:
    """docker-compose.yml as Compose sees it with no variables set: every ${VAR:-default}
    falls back to its default (the local stack's settings)."""
    return interpolate(compose_raw, {})


@pytest.fixture(scope="session")
def compose_validator() -> jsonschema.protocols.Validator:
    """The Compose Specification's JSON schema (Apache-2.0, github.com/compose-spec/compose-spec),
    as vendored by check-jsonschema for its `check-compose-spec` hook."""
    text = (files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text()
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Every kustomization (base and overlays) rendered, by overlay name."""
    return {name: render_kustomization(path) for name, path in K8S_OVERLAYS.items()}


@pytest.fixture(params=sorted(K8S_OVERLAYS))
def overlay(
    request: pytest.FixtureRequest, rendered: dict[str, list[Manifest]]
) -> tuple[str, list[Manifest]]:
    return request.param, rendered[request.param]


@pytest.fixture
def load_service_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[str, Mapping[str, str]], Any]]:
    """Build a service's own settings object from a deployment's environment, so a value the
    service would reject (a bad URL, a port out of range) fails here and not in a cluster."""
    prefixes = ("VOXLOOP_",) + tuple(env_prefix(s) for s in (*SERVICES, GATEWAY))

    def load(service: str, environment: Mapping[str, str]) -> Any:
        module = pytest.importorskip(f"services.{service}.settings")
        base = importlib.import_module("shared.settings").ServiceSettings
        classes = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, base)
            and obj is not base
            and getattr(obj, "service_name", None) == service
        ]
        assert len(classes) == 1, f"services.{service}.settings: expected one settings class"
        for key in list(os.environ):
            if key.startswith(prefixes):
                monkeypatch.delenv(key)
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        return classes[0]()

    yield load
