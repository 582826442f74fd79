"""Offline renderers for the deployment files: a small kustomize and Compose interpolation.

There is no kustomize binary or Docker engine on the project's machines, so the tests render
what those tools would: enough of kustomize for the features k8s/ uses, and no more. A
kustomization using any other feature is rejected, so the renderer can never silently produce
something different from `kubectl apply -k`.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

SUPPORTED_KUSTOMIZATION_KEYS = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}
)
# Kinds the namespace transformer leaves alone (the ones k8s/ could plausibly hold).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "PersistentVolume",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
    }
)
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "Job", "CronJob"})


class KustomizeError(ValueError):
    """A kustomization this renderer cannot render exactly."""


def load_yaml_documents(path: Path) -> list[Manifest]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def render_kustomization(directory: Path) -> list[Manifest]:
    """The manifests `kustomize build <directory>` would print (for the supported subset)."""
    kustomization_file = directory / "kustomization.yaml"
    if not kustomization_file.is_file():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    spec = yaml.safe_load(kustomization_file.read_text()) or {}
    unsupported = set(spec) - SUPPORTED_KUSTOMIZATION_KEYS
    if unsupported:
        raise KustomizeError(
            f"{kustomization_file}: unsupported keys {sorted(unsupported)}; "
            "extend tests/deploy/render.py before using them"
        )
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{kustomization_file}: kind must be Kustomization")

    manifests: list[Manifest] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            manifests.extend(render_kustomization(target))
        elif target.is_file():
            manifests.extend(load_yaml_documents(target))
        else:
            raise KustomizeError(f"{kustomization_file}: resource {entry!r} does not exist")

    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{kustomization_file}: only `patches: - path: FILE` is supported")
        for patch_doc in load_yaml_documents(directory / patch["path"]):
            _apply_patch(manifests, patch_doc, kustomization_file)
    if "namespace" in spec:
        for m in manifests:
            if m["kind"] not in CLUSTER_SCOPED_KINDS:
                m.setdefault("metadata", {})["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        _set_image(manifests, image, kustomization_file)
    for replicas in spec.get("replicas", []):
        _set_replicas(manifests, replicas, kustomization_file)
    _check_unique_ids(manifests, kustomization_file)
    return manifests


def resource_id(m: Manifest) -> tuple[str, str, str]:
    return (m["kind"], m.get("metadata", {}).get("namespace", ""), m["metadata"]["name"])


def _check_unique_ids(manifests: list[Manifest], where: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for m in manifests:
        rid = resource_id(m)
        if rid in seen:
            raise KustomizeError(f"{where}: resource {rid} appears twice")
        seen.add(rid)


def _apply_patch(manifests: list[Manifest], patch: Manifest, where: Path) -> None:
    """Strategic-merge patch matched by apiVersion, kind and name (as kustomize does)."""
    matches = [
        m
        for m in manifests
        if m["apiVersion"] == patch["apiVersion"]
        and m["kind"] == patch["kind"]
        and m["metadata"]["name"] == patch["metadata"]["name"]
    ]
    if len(matches) != 1:
        raise KustomizeError(
            f"{where}: patch for {patch['kind']}/{patch['metadata']['name']} matches {len(matches)} resources"
        )
    merged = strategic_merge(matches[0], patch)
    matches[0].clear()
    matches[0].update(merged)


def strategic_merge(base: Any, patch: Any) -> Any:
    """Maps merge key by key; lists of named maps (containers, env, ports, volumes) merge by
    name; any other list, and every scalar, is replaced. This is strategic merge for the fields
    k8s/ patches; `$patch` directives are not supported."""
    if isinstance(base, dict) and isinstance(patch, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in patch):
            raise KustomizeError(f"patch directives are not supported: {sorted(patch)}")
        out = copy.deepcopy(base)
        for key, value in patch.items():
            out[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if _is_named_list(base) and _is_named_list(patch):
        out_list = copy.deepcopy(base)
        index = {item["name"]: i for i, item in enumerate(out_list)}
        for item in patch:
            if item["name"] in index:
                i = index[item["name"]]
                out_list[i] = strategic_merge(out_list[i], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _is_named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "name" in item for item in value)
    )


def pod_spec(m: Manifest) -> Manifest | None:
    """The pod spec of a workload, or None for other kinds."""
    if m["kind"] not in WORKLOAD_KINDS:
        return None
    if m["kind"] == "CronJob":
        return m["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return m["spec"]["template"]["spec"]


def containers(m: Manifest) -> Iterator[Manifest]:
    spec = pod_spec(m)
    if spec is not None:
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def _split_image(image: str) -> tuple[str, str | None]:
    """('registry:5000/a/b', 'tag') from 'registry:5000/a/b:tag' (a digest counts as the tag)."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    name, sep, tag = image.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return image, None


def _set_image(manifests: list[Manifest], rule: Mapping[str, str], where: Path) -> None:
    if set(rule) - {"name", "newName", "newTag", "digest"}:
        raise KustomizeError(f"{where}: unsupported image rule {dict(rule)}")
    hits = 0
    for m in manifests:
        for c in containers(m):
            name, tag = _split_image(c["image"])
            if name != rule["name"]:
                continue
            hits += 1
            name = rule.get("newName", name)
            if "digest" in rule:
                c["image"] = f"{name}@{rule['digest']}"
            elif "newTag" in rule:
                c["image"] = f"{name}:{rule['newTag']}"
            elif tag is None:
                c["image"] = name
            else:
                c["image"] = name + (tag if tag.startswith("@") else f":{tag}")
    if not hits:
        raise KustomizeError(f"{where}: image rule {rule['name']!r} matches no container")


def _set_replicas(manifests: list[Manifest], rule: Mapping[str, Any], where: Path) -> None:
    matches = [
        m
        for m in manifests
        if m["kind"] in {"Deployment", "StatefulSet", "ReplicaSet"} and m["metadata"]["name"] == rule["name"]
    ]
    if not matches:
        raise KustomizeError(f"{where}: replicas rule {rule['name']!r} matches no workload")
    for m in matches:
        m["spec"]["replicas"] = int(rule["count"])


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    hits = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    if len(hits) != 1:
        raise LookupError(f"expected one {kind}/{name}, found {len(hits)}")
    return hits[0]


def secret_data(secret: Manifest) -> dict[str, str]:
    """A Secret's values as text (stringData wins over data, as the API server merges them)."""
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


def container_environment(
    container: Manifest, manifests: list[Manifest], pod_name: str = "pod-0"
) -> dict[str, str]:
    """The environment the kubelet would give a container: envFrom first, then env, with
    $(VAR) references expanded. A reference to a missing ConfigMap, Secret or key raises
    LookupError unless marked optional."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref, kind = source["configMapRef"], "ConfigMap"
        else:
            ref, kind = source["secretRef"], "Secret"
        try:
            obj = find(manifests, kind, ref["name"])
        except LookupError:
            if ref.get("optional"):
                continue
            raise
        values = (obj.get("data") or {}) if kind == "ConfigMap" else secret_data(obj)
        env.update({prefix + k: str(v) for k, v in values.items()})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = expand_references(str(var["value"]), env)
            continue
        source = var.get("valueFrom", {})
        if "fieldRef" in source:
            field = source["fieldRef"]["fieldPath"]
            env[var["name"]] = {"metadata.name": pod_name}.get(field, f"<{field}>")
            continue
        if "configMapKeyRef" in source:
            ref, kind = source["configMapKeyRef"], "ConfigMap"
        elif "secretKeyRef" in source:
            ref, kind = source["secretKeyRef"], "Secret"
        else:
            env[var["name"]] = f"<{sorted(source)}>"
            continue
        try:
            obj = find(manifests, kind, ref["name"])
            values = (obj.get("data") or {}) if kind == "ConfigMap" else secret_data(obj)
            env[var["name"]] = str(values[ref["key"]])
        except (LookupError, KeyError):
            if ref.get("optional"):
                continue
            raise LookupError(f"{var['name']}: no key {ref['key']!r} in {kind}/{ref['name']}") from None
    return env


def expand_references(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes $(VAR) expansion: known variables are replaced, $$ escapes, others stay."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, text)


# --- Compose -------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?", re.S)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose variable interpolation over a parsed file: $$, $VAR, ${VAR}, ${VAR:-default},
    ${VAR-default}, ${VAR:?error}, ${VAR?error}, and nested ${VAR:-${OTHER:-default}}. Applied,
    as Compose does, before validation."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value
    return substitute(value, env)


def substitute(text: str, env: Mapping[str, str]) -> str:
    """One string, interpolated as compose-go's template package does it: a `${` expression ends
    at the `}` that balances the `${` openings inside it, so a plain `}` in a default ends the
    expression (a JSON default cannot be written inside ${...}); a `$` before anything but `$`,
    `{` or a name is an error."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
            continue
        following = text[i + 1 : i + 2]
        if following == "$":
            out.append("$")
            i += 2
            continue
        if following == "{":
            end = _closing_brace(text, i)
            if end < 0:
                raise ValueError(f"invalid interpolation (no closing brace): {text!r}")
            out.append(_braced(text[i + 2 : end], env, text))
            i = end + 1
            continue
        name = _NAME.match(text, i + 1)
        if name is None:
            raise ValueError(f"invalid interpolation: {text!r} (write $$ for a literal $)")
        out.append(env.get(name[0], ""))
        i = name.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text):
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        if text.startswith("${", i):
            depth += 1
            i += 1
        i += 1
    return -1


def _braced(expression: str, env: Mapping[str, str], text: str) -> str:
    match = _BRACED.fullmatch(expression)
    if match is None:
        raise ValueError(f"invalid interpolation ${{{expression}}} in {text!r}")
    name, op = match["name"], match["op"]
    current = env.get(name)
    if op is None:
        return "" if current is None else current
    arg = substitute(match["arg"], env)  # compose-go substitutes the default even when unused
    if current is None or (op.startswith(":") and current == ""):
        if op in (":-", "-"):
            return arg
        raise ValueError(f"required variable {name} is missing: {arg}")
    return current
