"""The demo: a simulated supplier run through the real pipeline end to end."""
