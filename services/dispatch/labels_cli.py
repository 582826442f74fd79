"""``voxloop work labels``: answer a label review from the command line. ``--keep`` takes the
model's labels as they are; ``--sentiment``, ``--intent`` and ``--entity START:END:LABEL``
(character offsets into the segment's text, as ``work show`` lists them) say otherwise."""

from __future__ import annotations

import re
import time
from typing import Annotated

import typer

from protos import events_pb2, transcripts_pb2
from services.dispatch import render
from services.dispatch.client import Labels, model_labels
from services.dispatch.connection import (
    DEFAULT_HOME,
    Home,
    Local,
    Server,
    Token,
    connected,
    fail,
    out,
    work_connection,
)

_ENTITY = re.compile(r"^(\d+):(\d+):(\S+)$")


def parse_entity(spec: str) -> transcripts_pb2.Entity:
    """``12:17:PERSON``: the characters 12 to 17 (end exclusive) of the segment's text."""
    match = _ENTITY.match(spec.strip())
    if match is None:
        raise typer.BadParameter(
            f"{spec!r} is not an entity: give start, end and label, as in 12:17:PERSON", param_hint="--entity"
        )
    start, end, label = match.groups()
    return transcripts_pb2.Entity(label=label, start_char=int(start), end_char=int(end))


def chosen_labels(
    model: Labels, keep: bool, sentiment: str | None, intent: str | None, entities: list[str] | None
) -> Labels:
    """The answer: the model's labels under ``keep``, each part given replacing the model's."""
    base = model if keep else Labels([], "", "")
    return Labels(
        entities=[parse_entity(e) for e in entities] if entities else base.entities,
        sentiment=base.sentiment if sentiment is None else sentiment,
        intent=base.intent if intent is None else intent,
    )


def labels(
    task_id: str,
    keep: Annotated[
        bool, typer.Option("--keep", help="Start from the model's labels (best sentiment and intent).")
    ] = False,
    sentiment: Annotated[str | None, typer.Option(help="The sentiment label (one of the model's).")] = None,
    intent: Annotated[str | None, typer.Option(help="The intent label (one of the model's).")] = None,
    entity: Annotated[
        list[str] | None,
        typer.Option(
            help="An entity as 12:17:PERSON (characters 12 to 17 of the text); repeat. Replaces the set."
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="A note kept with the review.")] = "",
    server: Server = "",
    token: Token = "",
    local: Local = False,
    home: Home = DEFAULT_HOME,
) -> None:
    """Submit a label review: the entities, sentiment and intent as they should be."""
    if not keep and sentiment is None and intent is None and not entity:
        raise typer.BadParameter("give --keep, or the labels (--sentiment, --intent, --entity)")
    with connected(work_connection(server, token, local, home)) as client:
        task = client.get_task(task_id)
        if task.kind != events_pb2.TASK_KIND_LABEL_REVIEW:
            fail(f"task {task_id} is a {render.kind_name(task.kind)} task, not a label review")
        chosen = chosen_labels(model_labels(task.annotation), keep, sentiment, intent, entity)
        done = client.submit_labels(task_id, chosen.entities, chosen.sentiment, chosen.intent, note)
    out.print(render.result_line(done, f"labelled ({len(chosen.entities)} entities)", time.time()))
