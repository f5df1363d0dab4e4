"""The analyze stage: classify every complaint, rank causes (Pareto), route findings to
owners, model satisfaction from operations, and drill down from a drop to its owner."""
