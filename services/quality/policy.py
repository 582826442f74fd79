"""The routing policy: per tenant, domain and language, whether a person must see a segment.

Loaded from a YAML file (``routing_policy.yaml`` beside this module by default, or the path in
``QUALITY_POLICY_PATH``) and validated at start-up, so a bad policy stops the service with the
file and the field named instead of routing by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from protos import common_pb2, transcripts_pb2

DEFAULT_POLICY_PATH = Path(__file__).with_name("routing_policy.yaml")
Patterns = list[str]


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the file and what is wrong."""


class RoutingRule(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1)
    tenant: Patterns = ["*"]
    domain: Patterns = ["*"]
    language: Patterns = ["*"]
    risk_tier: Literal["low", "medium", "high"]
    always_review: bool = False
    auto_accept: Literal["never", "threshold", "calibrated"] = "never"
    threshold: float | None = Field(None, ge=0.0, le=1.0)

    @field_validator("tenant", "domain", "language", mode="before")
    @classmethod
    def _as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _threshold_when_needed(self) -> RoutingRule:
        if (
            self.auto_accept in ("threshold", "calibrated")
            and self.threshold is None
            and not self.always_review
        ):
            raise ValueError(f"rule {self.name!r}: auto_accept {self.auto_accept!r} needs a threshold")
        return self

    def matches(self, tenant: str, domain: str, language: str) -> bool:
        """Case-insensitive: a producer's "Medical" must not slip past a ``medical*`` rule."""
        return all(
            any(fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)
            for value, patterns in ((tenant, self.tenant), (domain, self.domain), (language, self.language))
        )


class RoutingPolicy(BaseModel):
    model_config = {"extra": "forbid"}

    version: str = Field(min_length=1)
    rules: list[RoutingRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _last_rule_catches_all(self) -> RoutingPolicy:
        last = self.rules[-1]
        if not last.matches("any-tenant", "any-domain", "any-language"):
            raise ValueError(
                f"the last rule ({last.name!r}) must match everything, so no segment is unrouted"
            )
        return self

    def rule_for(self, context: common_pb2.RecordingContext, language: str) -> RoutingRule:
        for rule in self.rules:
            if rule.matches(context.tenant_id, context.domain, language):
                return rule
        return self.rules[-1]  # unreachable: the validator guarantees a catch-all


def load_policy(path: Path = DEFAULT_POLICY_PATH) -> RoutingPolicy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RoutingPolicy.model_validate(raw)
    except OSError as exc:
        raise PolicyError(f"routing policy {path}: cannot read it: {exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:  # YAML files are UTF-8
        raise PolicyError(f"routing policy {path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise PolicyError(f"routing policy {path}: {problems}") from exc


@dataclass(frozen=True)
class RouteDecision:
    route: transcripts_pb2.Route.ValueType
    reasons: list[str]
    risk_tier: str
    threshold: float | None  # the auto-accept threshold applied, when one was


def route_by_policy(
    rule: RoutingRule, confidence: float, calibrated_threshold: float | None
) -> RouteDecision:
    """What the rule says for a segment that passed the hallucination checks."""
    if rule.always_review or rule.auto_accept == "never":
        return RouteDecision(
            transcripts_pb2.ROUTE_HUMAN_REVIEW,
            [f"rule {rule.name!r} (risk tier {rule.risk_tier}): every segment is reviewed by a person"],
            rule.risk_tier,
            None,
        )
    threshold, source = rule.threshold, "the rule's threshold"
    if rule.auto_accept == "calibrated":
        if calibrated_threshold is not None:
            threshold, source = calibrated_threshold, "the calibrated threshold for this language"
        else:
            source = "the rule's threshold (not enough corrections yet to calibrate this language)"
    assert threshold is not None  # the rule's validator requires one
    if confidence >= threshold:
        return RouteDecision(
            transcripts_pb2.ROUTE_AUTO_ACCEPT,
            [f"rule {rule.name!r}: confidence {confidence:.3f} >= {threshold:.3f}, {source}"],
            rule.risk_tier,
            threshold,
        )
    return RouteDecision(
        transcripts_pb2.ROUTE_HUMAN_REVIEW,
        [f"rule {rule.name!r}: confidence {confidence:.3f} < {threshold:.3f}, {source}"],
        rule.risk_tier,
        threshold,
    )
