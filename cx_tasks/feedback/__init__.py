"""Feedback beyond surveys (service desk, informal notes) into one table; its acknowledgement."""
