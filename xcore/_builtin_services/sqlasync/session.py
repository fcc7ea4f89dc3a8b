"""The ``AsyncSession`` of ``sqlasync``'s ``session()``: its ``async with`` block is a unit of work.

Leaving the block commits what the block wrote; leaving it by an exception rolls it back; either
way the session closes. That is SQLAlchemy's ``async with session.begin():`` rule, applied to the
plain ``async with db.session() as session:`` the original XCore's docs write, so a write can
never vanish silently because a ``commit()`` was forgotten. An explicit ``commit()`` inside the
block still commits at once (and the exit then has nothing left to commit).
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession


class UnitOfWorkSession(AsyncSession):
    """An ``AsyncSession`` that commits on a clean exit of ``async with`` and rolls back on an error."""

    async def __aexit__(
        self, type_: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if self.in_transaction():
                if type_ is None:
                    await self.commit()
                else:
                    await self.rollback()
        finally:
            await self.close()
