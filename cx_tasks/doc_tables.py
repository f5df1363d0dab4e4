"""Docs that cannot drift: the tables of shipped rule defaults in ``docs/*.md`` are generated
from the packaged rule files (``cx_tasks/rules/*.yaml``), never typed by hand.

A doc marks each generated block::

    <!-- generated:findings-thresholds -->
    ...(written by the generator)...
    <!-- /generated -->

``render(text)`` rewrites every marked block from ``BLOCKS``; ``python docs/generate.py``
writes the docs, ``--check`` lists the ones that differ (a test runs the check). The values
shown are always the packaged defaults, whatever ``CX_RULES_DIR`` holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import cx_tasks.rules

SHIPPED = Path(cx_tasks.rules.__file__).parent
"""The packaged rule files: the defaults the docs show."""

MARKED = re.compile(r"(<!-- generated:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)"
                    r"(<!-- /generated -->)", re.DOTALL)


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A Markdown table (``|`` in a cell escaped)."""
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines) + "\n"


def shown(value: Any) -> str:
    """A setting's value as the docs show it."""
    if isinstance(value, BaseModel):
        return ", ".join(f"{k} {shown(v)}" for k, v in value.model_dump().items())
    if isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
        return "; ".join(f"{k} ({shown(v)})" for k, v in value.items())
    if isinstance(value, dict):
        return ", ".join(f"{k} {shown(v)}" for k, v in value.items()) if value else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_rows(model: BaseModel, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, shipped value, meaning) for every field of a rules model, nested models as dotted
    keys; the meaning is the field's description."""
    rows = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            rows += settings_rows(value, f"{prefix}{name}.")
        else:
            rows.append((f"`{prefix}{name}`", shown(value), field.description or ""))
    return rows


def findings_settings() -> str:
    """``findings.yaml``: the Pareto and cluster settings (the thresholds have their table)."""
    from cx_tasks.analyze.findings import findings_rules

    rules = findings_rules(SHIPPED)
    rows = settings_rows(rules.pareto, "pareto.") + settings_rows(rules.clusters, "clusters.")
    return table(["key", "shipped", "meaning"], rows)


def findings_thresholds() -> str:
    """``findings.yaml`` thresholds: a client's metric worse than the threshold is a finding."""
    from cx_tasks.analyze.findings import findings_rules
    from cx_tasks.metrics.catalogue import metric_catalogue

    catalogue = metric_catalogue(SHIPPED)
    rows = [(f"`{t.metric}`", t.window_days,
             "below" if catalogue.by_id(t.metric).higher_is_better else "above",
             shown(t.threshold), catalogue.by_id(t.metric).unit, shown(t.min_denominator))
            for t in findings_rules(SHIPPED).thresholds]
    return table(["metric", "window days", "a finding when", "threshold", "unit",
                  "min denominator"], rows)


def owners_routing() -> str:
    """``owners.yaml``: the owner of each process class, then of the metrics with their own."""
    from cx_tasks.analyze.owners import person_label, process_owners
    from cx_tasks.feedback.rules import owners

    routing = owners(SHIPPED)
    rows = [(f"process class `{r.process_class}`", r.owner or "unowned", r.owner_person or "-",
             "-" if r.due_days is None else int(r.due_days))
            for r in process_owners(routing).itertuples(index=False)]
    rows += [(f"metric `{metric}`", a.owner, person_label(a), a.due_days)
             for metric, a in routing.by_metric.items()]
    return table(["findings on", "department", "person", "due days"], rows)


def factor_metrics() -> str:
    """``factors.yaml``: the measured factors, their block and metrics (zero -> full)."""
    from cx_tasks.analyze.factors import factor_catalogue

    rows = [(f.id, f.block, ", ".join(f"{m.metric} ({shown(m.zero)} -> {shown(m.full)})"
                                      + (f" asked as `{m.question}`" if m.question else "")
                                      for m in f.metrics))
            for f in factor_catalogue(SHIPPED).measured]
    return table(["factor", "block", "metrics (zero -> full)"], rows)


def model_settings() -> str:
    """``model.yaml``: the account roll-up, reported satisfaction, table stakes, calibration."""
    from cx_tasks.analyze.model import satisfaction_rules

    return table(["key", "shipped", "meaning"], settings_rows(satisfaction_rules(SHIPPED).model))


def otif_settings() -> str:
    """``metric_parameters.yaml`` ``otif``: the OTIF tolerance."""
    from cx_tasks.metrics.parameters import metric_parameters

    return table(["key", "shipped", "meaning"],
                 settings_rows(metric_parameters(SHIPPED).otif, "otif."))


def contact_rules_settings() -> str:
    """``contact_rules.yaml``: every throttling rule's shipped value."""
    from cx_tasks.surveys.contact_rules import contact_rules

    return table(["key", "shipped", "meaning"], settings_rows(contact_rules(SHIPPED)))


def feedback_settings() -> str:
    """``feedback.yaml``: informal notes and acknowledgement age."""
    from cx_tasks.feedback.rules import feedback_rules

    return table(["key", "shipped", "meaning"], settings_rows(feedback_rules(SHIPPED)))


def journey_map_table() -> str:
    """``journey.yaml`` with each indicator's collection method and process class
    (``metric_catalogue.yaml``), and the shares collected automatically."""
    from cx_tasks.metrics.catalogue import metric_catalogue
    from cx_tasks.metrics.journey import collection_share, journey_map, map_rows

    catalogue = metric_catalogue(SHIPPED)
    journey = journey_map(SHIPPED, catalogue)
    rows = map_rows(journey, catalogue)
    previous = None
    cells = []
    for row in rows.itertuples(index=False):
        first = row.stage != previous
        previous = row.stage
        cells.append((row.stage if first else "", row.client_state if first else "",
                      f"`{row.indicator}`", row.collection,
                      row.process_class if isinstance(row.process_class, str) else "-"))
    share = collection_share(journey, catalogue, "all")
    summary = (f"\nShipped: {share['indicators']} indicators, {share['from_systems']} from "
               f"systems ({share['system_share']:.1%}), {share['from_automated_channels']} "
               f"through automated channels, {share['in_person']} in person: "
               f"{share['automated_share']:.1%} collected from systems or automated channels.\n")
    return table(["stage", "client's state", "indicator", "collection", "process class"],
                 cells) + summary


LIST_EXAMPLES = 6
"""How many terms per language a word list of the lexicon table shows."""


def _written(term: Any) -> str:
    """A lexicon term as the docs show it: the words, and a weight other than the default."""
    if isinstance(term, dict):
        (words, weight), = term.items()
        return f"{words} {shown(weight)}"
    return str(term)


def _terms_shown(lists: Any) -> str:
    """A word list per language: how many terms, and the first ``LIST_EXAMPLES`` of each."""
    parts = []
    for language in ("ru", "en"):
        terms = getattr(lists, language)
        if terms:
            more = ", ..." if len(terms) > LIST_EXAMPLES else ""
            parts.append(f"{language} {len(terms)}: "
                         + ", ".join(_written(t) for t in terms[:LIST_EXAMPLES]) + more)
    return "; ".join(parts) or "none"


def lexicon_causes() -> str:
    """``lexicon.yaml`` causes: group, process class and how many terms per language."""
    from cx_tasks.analyze.lexicon import LexiconFile
    from cx_tasks.config import parse_yaml, rules_text

    lexicon = LexiconFile.model_validate(parse_yaml(rules_text("lexicon", SHIPPED)))
    rows = [(f"`{name}`", c.group, c.process_class, len(c.terms.ru), len(c.terms.en),
             c.description) for name, c in lexicon.causes.items()]
    return table(["cause", "group", "process class", "terms ru", "terms en", "description"],
                 rows)


def lexicon_settings() -> str:
    """``lexicon.yaml``: the matching settings, then every word list (size and first terms)."""
    from cx_tasks.analyze.lexicon import LexiconFile, TermLists
    from cx_tasks.config import parse_yaml, rules_text

    lexicon = LexiconFile.model_validate(parse_yaml(rules_text("lexicon", SHIPPED)))
    rows = []
    for name, field in LexiconFile.model_fields.items():
        value = getattr(lexicon, name)
        if name == "causes":
            value = f"{len(value)} causes (table above)"
        elif name == "topics":
            value = "; ".join(f"{pc} ({_terms_shown(lists)})" for pc, lists in value.items())
        elif isinstance(value, TermLists):
            value = _terms_shown(value)
        else:
            value = shown(value)
        rows.append((f"`{name}`", value, field.description or ""))
    return table(["key", "shipped", "meaning"], rows)


def classifier_settings() -> str:
    """``classifier.yaml``: every setting but the calibration table (which has its own)."""
    from cx_tasks.analyze.classify import load_classifier

    rules = load_classifier(SHIPPED).rules
    rows = [row for row in settings_rows(rules) if not row[0].startswith("`confidence")]
    return table(["key", "shipped", "meaning"], rows)


def classifier_confidence() -> str:
    """``classifier.yaml`` ``confidence``: the margin -> probability table and its fit."""
    from cx_tasks.analyze.classify import load_classifier

    fitted = load_classifier(SHIPPED).rules.confidence
    if fitted is None:
        return "No table shipped: the confidence is the raw margin.\n"
    return (table(["margin from", *(shown(m) for m in fitted.margin)],
                  [["P(right)", *(shown(p) for p in fitted.probability)]])
            + f"\nFitted on {fitted.fitted_on} ({fitted.items} items).\n")


BLOCKS: dict[str, Callable[[], str]] = {
    "findings-settings": findings_settings,
    "findings-thresholds": findings_thresholds,
    "owners-routing": owners_routing,
    "factor-metrics": factor_metrics,
    "model-settings": model_settings,
    "otif-settings": otif_settings,
    "journey-map": journey_map_table,
    "contact-rules": contact_rules_settings,
    "feedback-settings": feedback_settings,
    "lexicon-causes": lexicon_causes,
    "lexicon-settings": lexicon_settings,
    "classifier-settings": classifier_settings,
    "classifier-confidence": classifier_confidence,
}
"""Every generated block by name."""


def render(text: str) -> str:
    """``text`` with every marked block rewritten by its generator (an unknown name raises)."""
    cache: dict[str, str] = {}

    def body(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise KeyError(f"no generator for block {name!r}; known: {sorted(BLOCKS)}")
        cache.setdefault(name, BLOCKS[name]())
        return match.group(1) + cache[name] + match.group(4)

    return MARKED.sub(body, text)


def stale_docs(paths: Iterable[Path], write: bool = False) -> list[Path]:
    """The docs among ``paths`` whose generated blocks differ from what ``render`` writes;
    with ``write``, rewrite them."""
    stale = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh != text:
            stale.append(path)
            if write:
                path.write_text(fresh, encoding="utf-8")
    return stale
