"""Recs' storage: tables and the repository the use cases read and write through."""

from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_recs.store import tables
from o2o_recs.store.catalog import CatalogQueries
from o2o_recs.store.history import HistoryWrites
from o2o_recs.store.members import MemberQueries, blank_member
from o2o_recs.store.models import ModelQueries
from o2o_recs.store.reading import ReadingQueries


class Repository(HistoryWrites, MemberQueries, ReadingQueries, CatalogQueries, ModelQueries):
    """Queries over one session; the unit of work owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session


__all__ = ["Repository", "blank_member", "tables"]
