"""Positioning's storage: tables and the repository the use cases read and write through."""

from o2o_positioning.store.repository import Repository

__all__ = ["Repository"]
