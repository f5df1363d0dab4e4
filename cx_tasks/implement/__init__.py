"""The implement stage: close-the-loop cases, findings, initiatives, "you said, we did"."""
