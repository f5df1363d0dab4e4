"""Collect stage: extract the supplier's systems, validate, load, compute, detect events."""
