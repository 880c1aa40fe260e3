"""Receipts: who bought what in which store."""
