"""Computable metrics: what the supplier's own systems say about each client's experience.

Each metric is one function named for it (its definition in the first docstring line,
repeated in ``rules/metric_catalogue.yaml``), computed per client for every window
``[as_of - N days, as_of)`` from the contract's tables:

- ``otif``: OTIF per order line and per order, on time and in full separately;
- ``shipments``: short shipment rate and shortfall volume;
- ``rhythm``: delivery rhythm irregularity against the client's usual cadence;
- ``packaging``: packaging incidents per delivered shipment;
- ``documents``: document turnaround (median, p90) and share within SLA;
- ``payments``: invoices paid on time and mean days overdue;
- ``transactional``: order frequency, revenue and gross margin.

``compute.compute_metrics`` runs them all on frames, ``compute.compute_and_publish`` on
the warehouse's staging tables. The numbers behind them are ``parameters``; the list of
every metric, computable or asked in surveys, is ``catalogue``. ``ledger`` and ``keys``
turn the tables into numpy arrays with every reference resolved (joins by sorting),
``windows`` places rows in nested windows, ``values`` assembles the long table.
"""
