"""The monitor stage: past answers, KPIs with their uncertainty, the layer cake, digests."""
