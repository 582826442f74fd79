"""`voxloop annotate`: train the sentiment and intent classifiers, label a text from the terminal."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from services.annotate.settings import AnnotateSettings
from shared.settings import load_settings

annotate_app = typer.Typer(help="Annotation: train the classifiers, label a text.", no_args_is_help=True)
console = Console()
ModelsDir = Annotated[
    Path | None, typer.Option(help="Models home; default: ANNOTATE_MODELS_DIR or ~/.cache/voxloop/models.")
]


def _models_dir(models_dir: Path | None) -> Path:
    return models_dir or load_settings(AnnotateSettings).models_dir


@annotate_app.command()
def train(
    language: Annotated[
        list[str] | None, typer.Option(help="Only these languages (default: every corpus language).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Train even when the model of these inputs exists.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Train each language's sentiment and intent classifier from the shipped corpus (a model
    of the same corpus, config and spaCy version is kept, not trained again). It becomes the
    current version unless one promoted from reviewed labels is in use."""
    from services.annotate import classifiers  # spaCy takes seconds to import: only when used

    home = _models_dir(models_dir)
    languages = language or classifiers.corpus_languages()
    table = Table(title=f"Classifiers in {home / 'annotate'}")
    for col in ("language", "task", "version", "now", "train", "test accuracy", "test macro-F1", "current"):
        table.add_column(col)
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("training", total=len(languages) * len(classifiers.TASKS))
        for lang in languages:
            for task in classifiers.TASKS:
                progress.update(bar, description=f"{lang}/{task}")
                with contextlib.redirect_stdout(io.StringIO()):  # spaCy's own per-step table
                    card, trained = classifiers.train(lang, task, home, force=force)
                s = card.test_scores
                in_use = classifiers.current_version(home, lang, task)
                current = "yes" if in_use == card.version else f"no: {in_use} (promoted from reviewed labels)"
                table.add_row(
                    lang, task, card.version, "trained" if trained else "kept", str(card.train_examples),
                    f"{s.get('accuracy', 0):.1%}", f"{s.get('macro_f1', 0):.1%}", current,
                )  # fmt: skip
                progress.advance(bar)
    console.print(table)


@annotate_app.command()
def label(
    text: str,
    language: Annotated[str, typer.Option(help="BCP-47 language of the text.")] = "en",
    tenant: Annotated[str, typer.Option(help="Tenant id: its gazetteer and label set apply.")] = "",
    models_dir: ModelsDir = None,
) -> None:
    """Label one text as the service would: entities, sentiment, intent, and why a person would check it."""
    from protos import common_pb2
    from services.annotate.labeller import Labeller

    settings = load_settings(AnnotateSettings, models_dir=_models_dir(models_dir), nlp_process=False)
    result = Labeller(settings).label([common_pb2.TranscriptSegment(text=text, language=language)], [tenant])[
        0
    ]
    entities = Table(title=f"Entities ({result.pipeline})")
    for col in ("label", "text", "chars", "source", "confidence", "personal"):
        entities.add_column(col)
    for e in result.entities:
        entities.add_row(
            e.label,
            e.text,
            f"{e.start_char}-{e.end_char}",
            e.source,
            f"{e.confidence:.2f}",
            "yes" if e.personal_data else "",
        )
    console.print(entities)
    for name, scores in (("sentiment", result.sentiment), ("intent", result.intent)):
        console.print(
            f"{name}: " + (", ".join(f"{s.label} {s.confidence:.2f}" for s in scores[:3]) or "no classifier")
        )
    for reason in result.review_reasons:
        console.print(f"[yellow]needs label review[/]: {reason}")
