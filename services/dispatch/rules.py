"""Who may work which task, and in what order: plain functions over plain values.

- A task's ``tier`` is the role that works it: annotators correct, reviewers review, QA leads
  sample, seniors take what was escalated. ``admin`` may do anything.
- Language scope: a person's entry "en" covers every English task, "en-GB" only that dialect, "*" all.
- Domain skill: tasks of a skill domain (medical, legal... from settings) need that skill.
- One person, one part per segment: nobody reviews or samples a segment they corrected, and the
  two halves of a double-blind pair go to two different people.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from protos import events_pb2

CORRECT = events_pb2.TASK_KIND_CORRECT
REVIEW = events_pb2.TASK_KIND_REVIEW
QA_SAMPLE = events_pb2.TASK_KIND_QA_SAMPLE
LABEL_REVIEW = events_pb2.TASK_KIND_LABEL_REVIEW

QUEUED = events_pb2.TASK_STATE_QUEUED
CLAIMED = events_pb2.TASK_STATE_CLAIMED
SUBMITTED = events_pb2.TASK_STATE_SUBMITTED
APPROVED = events_pb2.TASK_STATE_APPROVED
REJECTED = events_pb2.TASK_STATE_REJECTED
ESCALATED = events_pb2.TASK_STATE_ESCALATED
DONE = events_pb2.TASK_STATE_DONE

OPEN_STATES = (QUEUED, CLAIMED, ESCALATED)  # waiting for someone, or being worked
ROLES = ("annotator", "reviewer", "senior", "qa_lead", "admin")
TIER_OF_KIND: dict[int, str] = {
    CORRECT: "annotator",
    REVIEW: "reviewer",
    QA_SAMPLE: "qa_lead",
    LABEL_REVIEW: "annotator",
}
RISK_PRIORITY = {"high": 300, "medium": 200, "low": 100}
ESCALATION_BONUS = 50  # an escalated task goes ahead of its risk tier


@dataclass(frozen=True)
class Person:
    """The caller as dispatch sees them."""

    subject: str
    roles: frozenset[str]
    languages: frozenset[str]
    domains: frozenset[str]

    @property
    def admin(self) -> bool:
        return "admin" in self.roles

    def works_tier(self, tier: str) -> bool:
        return self.admin or tier in self.roles

    def speaks(self, language: str, dialect: str = "") -> bool:
        return self.admin or bool({"*", language, *([dialect] if dialect else [])} & self.languages)

    def knows_domain(self, domain: str, skill_domains: Iterable[str]) -> bool:
        if self.admin or domain not in set(skill_domains):
            return True
        return bool({"*", domain} & self.domains)


def language_keys(scope: Iterable[str]) -> set[str] | None:
    """Base languages a scope covers, for the queue query; None when it covers everything."""
    keys = set()
    for entry in scope:
        if entry == "*":
            return None
        keys.add(entry.split("-")[0].lower())
    return keys


def priority_of(risk_tier: str, escalated: bool = False) -> int:
    """Higher first: risk tier, then escalations ahead of their tier. Gold audits get the
    priority of the tier they pose as, so nothing tells them apart in the queue."""
    return RISK_PRIORITY.get(risk_tier, RISK_PRIORITY["medium"]) + (ESCALATION_BONUS if escalated else 0)


@dataclass(frozen=True)
class Part:
    """What one person did on a segment: the task kind and, for double-blind pairs, its slot."""

    subject: str
    kind: int
    slot: int
    task_id: str


def conflict(person: str, task_id: str, kind: int, parts: Iterable[Part]) -> str | None:
    """Why ``person`` may not take this task of a segment, given the other parts on it; None if free."""
    for p in parts:
        if p.subject != person or p.task_id == task_id:
            continue
        if kind == CORRECT and p.kind == CORRECT:
            return "corrected the other half of this double-blind pair"
        if kind == REVIEW and p.kind == CORRECT:
            return "corrected this segment and cannot review it"
        if kind == QA_SAMPLE and p.kind in (CORRECT, REVIEW):
            return "worked on this segment and cannot sample it"
        if kind == CORRECT and p.kind in (REVIEW, QA_SAMPLE):
            return "reviewed this segment and cannot correct it"
    return None
