"""Packaging incidents (damaged, wrong labelling, wrong packaging type) per delivered shipment."""

from __future__ import annotations

from cx_tasks.metrics.ledger import IncidentRows, ShipmentRows
from cx_tasks.metrics.values import MetricValues, ratio, undefined_notes
from cx_tasks.metrics.windows import Windows

NO_DELIVERIES = "packaging incidents reported but no shipment delivered in the window"


def packaging_incident_rate(shipments: ShipmentRows, incidents: IncidentRows, windows: Windows,
                            n_clients: int) -> MetricValues:
    """Packaging incidents reported in the window per shipment delivered in the window."""
    delivered = windows.cells(shipments.client, shipments.delivered, n_clients).total()
    reported = windows.cells(incidents.client, incidents.day, n_clients).total()
    value = ratio(reported, delivered)
    emitted = (delivered > 0) | (reported > 0)
    return MetricValues("packaging_incident_rate", value, emitted, reported, delivered,
                        undefined_notes(value, emitted, NO_DELIVERIES))
