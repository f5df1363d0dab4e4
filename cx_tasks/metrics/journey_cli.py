"""``cx journey``: print the customer-journey map and the share of its indicators collected
automatically (``cx_tasks.metrics.journey``)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="The customer-journey map: stage, client's state, indicator, collection "
                  "method, process class; and the shares collected automatically.",
                  invoke_without_command=True)


@app.callback()
def journey(
    segment: str = typer.Option("all", help="segment whose collection methods to show "
                                "('all': the catalogue's defaults)"),
    language: str = typer.Option("en", help="language of the client's states: en or ru"),
) -> None:
    """Print the journey map (rules/journey.yaml with the metric catalogue's methods)."""
    from cx_tasks.metrics.catalogue import metric_catalogue
    from cx_tasks.metrics.journey import collection_share, journey_map, map_rows

    if language not in ("en", "ru"):
        raise typer.BadParameter("language must be en or ru")
    catalogue = metric_catalogue()
    journey_rules = journey_map(catalogue=catalogue)
    rows = map_rows(journey_rules, catalogue, segment, language)
    table = Table(title=f"customer-journey map (segment {escape(segment)})", title_justify="left")
    for column in ("stage", "client's state", "indicator", "collection", "process class"):
        table.add_column(column, no_wrap=column not in ("client's state",))
    previous = None
    for row in rows.itertuples(index=False):
        first = row.stage != previous
        previous = row.stage
        table.add_row(*(escape(str(v)) if isinstance(v, str) else "-" for v in (
            row.stage if first else "", row.client_state if first else "", row.indicator,
            row.collection, row.process_class)))
    console = Console()
    console.print(table)
    share = collection_share(journey_rules, catalogue, segment)
    console.print(f"{share['indicators']} indicators: {share['from_systems']} from systems "
                  f"({share['system_share']:.1%}), {share['from_automated_channels']} through "
                  f"automated channels, {share['in_person']} in person; from systems or "
                  f"automated channels {share['automated_share']:.1%}")
