"""Surveys: which survey each trigger event and role gets, and the contact rules that decide
who is asked and when (pure logic; sending lives in ``cx_tasks.mail``)."""
