"""Recs: what to show a member next, and why."""
