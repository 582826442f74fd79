"""The routing policy: which rule a segment falls under, what the rule decides, and a bad policy
file stopping the service with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from protos import common_pb2, transcripts_pb2
from services.quality.policy import (
    DEFAULT_POLICY_PATH,
    PolicyError,
    RoutingPolicy,
    RoutingRule,
    load_policy,
    route_by_policy,
)

SHIPPED = load_policy()


def context(tenant: str = "acme", domain: str = "support") -> common_pb2.RecordingContext:
    return common_pb2.RecordingContext(recording_id="rec-1", tenant_id=tenant, domain=domain)


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


# --- which rule ---

PATTERNED = RoutingPolicy.model_validate(
    {
        "version": "test",
        "rules": [
            {"name": "bank-french", "tenant": "bank-*", "language": ["fr", "fr-*"], "risk_tier": "high"},
            {"name": "bank", "tenant": ["bank-*"], "risk_tier": "medium"},
            {"name": "claims", "domain": ["insurance", "claims*"], "risk_tier": "medium"},
            {"name": "rest", "risk_tier": "low"},
        ],
    }
)


@pytest.mark.parametrize(
    ("tenant", "domain", "language", "rule"),
    [
        ("bank-eu", "support", "fr", "bank-french"),
        ("bank-eu", "claims", "fr-CA", "bank-french"),  # the first match wins over "claims"
        ("bank-eu", "support", "de", "bank"),
        ("bank-eu", "claims", "en", "bank"),  # "bank" is listed before "claims"
        ("shop", "claims-motor", "fr", "claims"),
        ("shop", "insurance", "en", "claims"),
        ("shop", "support", "fr", "rest"),
        ("bank", "support", "fr", "rest"),  # "bank-*" needs the dash
        ("", "", "", "rest"),
    ],
)
def test_the_first_rule_whose_tenant_domain_and_language_all_match_decides(
    tenant: str, domain: str, language: str, rule: str
) -> None:
    assert PATTERNED.rule_for(context(tenant, domain), language).name == rule


def test_a_single_pattern_is_read_as_a_list_and_left_out_means_anything() -> None:
    rule = RoutingRule.model_validate({"name": "one", "domain": "medical*", "risk_tier": "high"})
    assert rule.domain == ["medical*"] and rule.tenant == ["*"] and rule.language == ["*"]
    assert rule.matches("any", "medical-imaging", "sv")
    assert not rule.matches("any", "legal", "sv")


# --- the shipped policy ---


def test_the_shipped_policy_loads_and_names_its_version() -> None:
    assert SHIPPED.version
    assert [r.name for r in SHIPPED.rules] == ["medical-and-legal", "finance", "default"]


@pytest.mark.parametrize("domain", ["medical", "medical-imaging", "legal", "legal-discovery"])
def test_medical_and_legal_segments_always_go_to_a_person(domain: str) -> None:
    rule = SHIPPED.rule_for(context(domain=domain), "en")
    decision = route_by_policy(rule, confidence=1.0, calibrated_threshold=0.1)
    assert decision.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert decision.risk_tier == "high" and decision.threshold is None
    assert "medical-and-legal" in decision.reasons[0] and "every segment" in decision.reasons[0]


def test_finance_is_accepted_by_its_own_threshold_whatever_the_calibration() -> None:
    rule = SHIPPED.rule_for(context(domain="finance-retail"), "en")
    assert rule.name == "finance" and rule.risk_tier == "medium"
    accepted = route_by_policy(rule, 0.92, calibrated_threshold=0.99)
    assert accepted.route == transcripts_pb2.ROUTE_AUTO_ACCEPT and accepted.threshold == 0.9
    reviewed = route_by_policy(rule, 0.85, calibrated_threshold=0.5)
    assert reviewed.route == transcripts_pb2.ROUTE_HUMAN_REVIEW and reviewed.threshold == 0.9


def test_the_default_rule_falls_back_to_its_threshold_until_a_language_is_calibrated() -> None:
    rule = SHIPPED.rule_for(context(domain="support"), "en")
    assert rule.name == "default" and rule.auto_accept == "calibrated" and rule.risk_tier == "low"

    uncalibrated = route_by_policy(rule, 0.85, calibrated_threshold=None)
    assert uncalibrated.route == transcripts_pb2.ROUTE_AUTO_ACCEPT and uncalibrated.threshold == 0.8
    assert "not enough corrections yet" in uncalibrated.reasons[0]
    assert route_by_policy(rule, 0.75, None).route == transcripts_pb2.ROUTE_HUMAN_REVIEW

    calibrated = route_by_policy(rule, 0.85, calibrated_threshold=0.93)
    assert calibrated.route == transcripts_pb2.ROUTE_HUMAN_REVIEW and calibrated.threshold == 0.93
    assert "calibrated threshold" in calibrated.reasons[0]
    lowered = route_by_policy(rule, 0.75, calibrated_threshold=0.7)
    assert lowered.route == transcripts_pb2.ROUTE_AUTO_ACCEPT and lowered.threshold == 0.7


def test_auto_accept_never_sends_every_segment_to_a_person() -> None:
    rule = RoutingRule.model_validate({"name": "cautious", "risk_tier": "medium", "auto_accept": "never"})
    decision = route_by_policy(rule, confidence=1.0, calibrated_threshold=0.0)
    assert decision.route == transcripts_pb2.ROUTE_HUMAN_REVIEW and decision.threshold is None
    assert decision.risk_tier == "medium"
    assert "'cautious'" in decision.reasons[0]


def test_a_decision_names_the_rule_the_confidence_and_the_threshold() -> None:
    rule = RoutingRule(name="finance", risk_tier="medium", auto_accept="threshold", threshold=0.9)
    (above,) = route_by_policy(rule, 0.9234, None).reasons
    assert above == "rule 'finance': confidence 0.923 >= 0.900, the rule's threshold"
    (below,) = route_by_policy(rule, 0.4, None).reasons
    assert below == "rule 'finance': confidence 0.400 < 0.900, the rule's threshold"


# --- a bad policy file ---

VALID_DEFAULT = """
  - name: default
    risk_tier: low
    auto_accept: calibrated
    threshold: 0.8
"""


def test_a_rule_that_auto_accepts_without_a_threshold_is_refused(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        'version: "1"\nrules:\n  - name: finance\n    domain: finance\n    risk_tier: medium\n'
        "    auto_accept: threshold\n" + VALID_DEFAULT,
    )
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    message = str(error.value)
    assert str(path) in message
    assert "rules.0" in message and "'finance'" in message and "needs a threshold" in message


def test_an_unknown_key_is_refused_with_its_place(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        'version: "1"\nrules:\n  - name: typo\n    risk_tier: low\n    treshold: 0.8\n' + VALID_DEFAULT,
    )
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    assert str(path) in str(error.value) and "rules.0.treshold" in str(error.value)
    assert "Extra inputs are not permitted" in str(error.value)


def test_a_policy_whose_last_rule_is_not_a_catch_all_is_refused(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        'version: "1"\nrules:\n  - name: medical\n    domain: medical\n    risk_tier: high\n'
        "    always_review: true\n",
    )
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    assert str(path) in str(error.value)
    assert "last rule ('medical') must match everything" in str(error.value)


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = write_policy(tmp_path, 'version: "1"\nrules: [\n  - name: default\n')
    with pytest.raises(PolicyError, match="not valid YAML") as error:
        load_policy(path)
    assert str(path) in str(error.value)


def test_a_file_that_is_not_utf8_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b'version: "1"\n# caf\xe9\nrules:\n  - name: default\n    risk_tier: low\n')
    with pytest.raises(PolicyError, match="not valid YAML") as error:
        load_policy(path)
    assert str(path) in str(error.value)


def test_an_empty_file_is_refused_at_the_top_level(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "")
    with pytest.raises(PolicyError, match=r"\(top level\)") as error:
        load_policy(path)
    assert str(path) in str(error.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(PolicyError, match="cannot read it") as error:
        load_policy(path)
    assert str(path) in str(error.value)


def test_the_default_path_is_the_file_beside_the_module() -> None:
    assert DEFAULT_POLICY_PATH.name == "routing_policy.yaml" and DEFAULT_POLICY_PATH.is_file()
