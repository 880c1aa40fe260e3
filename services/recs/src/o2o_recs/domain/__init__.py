"""Recs rules: pure, no I/O."""
