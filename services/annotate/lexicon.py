"""Words the date and time patterns need, per language (lower case; regex alternations).

A language not listed here gets every language's words together. "may" and "march" are left out
of the English months when they stand alone: they are more often a verb than a month.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lexicon:
    months: str
    weekdays: str
    before: str = ""  # words before a weekday that make it a date: "next", "letzten"
    after: str = ""  # words after a weekday: "prochain", "que viene"
    article: str = ""  # "le", "el": part of the date span, as in the labelled sets
    days: str = ""  # whole phrases that are dates: "today", "la semaine prochaine"
    times: str = ""  # whole phrases that are times of day: "this morning", "midi"
    clock: str = ""  # words after an hour: "heures", "Uhr"
    months_alone: str = ""  # months that are dates on their own (default: all of them)


LEXICONS = {
    "en": Lexicon(
        months="january|february|march|april|may|june|july|august|september|october|november|december"
        "|jan|feb|apr|jun|jul|aug|sep|sept|oct|nov|dec",
        weekdays="monday|tuesday|wednesday|thursday|friday|saturday|sunday",
        before="next|last|this|coming",
        article="the",
        days="today|tomorrow|yesterday|next week|last week|next month|last month|the end of the month"
        "|the day after tomorrow|this weekend|next weekend|last weekend",
        times="this morning|this afternoon|this evening|tonight|last night|noon|midday|midnight",
        clock="o'clock|a\\.?m\\.?|p\\.?m\\.?",
        months_alone="january|february|april|june|july|august|september|october|november|december",
    ),
    "fr": Lexicon(
        months="janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre"
        "|décembre|decembre",
        weekdays="lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche",
        after="prochain|dernier|matin|soir",
        article="le|la|l'",
        days="aujourd'hui|demain|après-demain|hier|avant-hier|la semaine prochaine|la semaine dernière"
        "|le mois prochain|le mois dernier|la fin du mois|ce week-end",
        times="ce matin|cet après-midi|ce soir|hier soir|demain matin|cette nuit|midi|minuit",
        clock="heures|heure|h",
    ),
    "es": Lexicon(
        months="enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre"
        "|diciembre",
        weekdays="lunes|martes|miércoles|miercoles|jueves|viernes|sábado|sabado|domingo",
        before="próximo|proximo",
        after="que viene|pasado|siguiente|próximo|proximo",
        article="el|la|los|las",
        days="hoy|mañana|ayer|pasado mañana|anteayer|la semana pasada|la semana que viene"
        "|la próxima semana|el mes pasado|el mes que viene|el fin de semana|fin de mes",
        times="esta mañana|esta tarde|esta noche|anoche|mediodía|medianoche",
        clock="horas|h",
    ),
    "de": Lexicon(
        months="januar|jänner|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember",
        weekdays="montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag",
        before="nächsten|nächster|letzten|letzter|kommenden|diesen|vergangenen",
        days="heute|morgen|übermorgen|gestern|vorgestern|nächste woche|letzte woche|nächsten monat"
        "|letzten monat|monatsende|am wochenende",
        times="heute morgen|heute früh|heute abend|gestern abend|morgen früh|heute nacht|mittag|mitternacht",
        clock="uhr|h",
    ),
}


def lexicon(language: str) -> Lexicon:
    if language in LEXICONS:
        return LEXICONS[language]
    every = LEXICONS.values()
    return Lexicon(
        *("|".join(filter(None, (getattr(x, f) for x in every))) for f in Lexicon.__dataclass_fields__)
    )
