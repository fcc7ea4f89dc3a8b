"""Database code written for a trusted plugin, in every shape the services guide shows; run sandboxed.

``sync`` is an ``sql`` database (synchronous sessions), ``adb`` a ``sqlasync`` one (connections,
transactions, sessions). Each action reports the error it met rather than raising, so a test can
assert on the database's own refusal.
"""

from __future__ import annotations

import asyncio
from typing import Any

from xcore.sdk import TrustedBase, action, ok


def failed(exc: BaseException) -> dict[str, Any]:
    return ok(failed=True, error=f"{type(exc).__name__}: {exc}")


class Ledger(TrustedBase):
    async def on_load(self) -> None:
        self.held: dict[str, Any] = {}

    @action()
    async def sync_insert(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The guide's synchronous session: ``INSERT ... RETURNING``, ``commit()``, ``scalar()``."""
        db = self.get_service("sync")
        try:
            with db.session() as session:
                result = session.execute("INSERT INTO ledger (v) VALUES (:v) RETURNING v", {"v": payload["v"]})
                if payload.get("commit", True):
                    session.commit()
                return ok(failed=False, v=result.scalar())
        except Exception as exc:
            return failed(exc)

    @action()
    async def sync_rows(self, payload: dict[str, Any]) -> dict[str, Any]:
        db = self.get_service("sync")
        with db.session() as session:
            result = session.execute("SELECT v FROM ledger ORDER BY v")
            return ok(
                rows=[row[0] for row in result.fetchall()],
                named=[dict(r) for r in session.execute("SELECT v FROM ledger ORDER BY v")],
            )

    @action()
    async def async_session_insert(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``sqlasync``'s session: committed on a clean exit, rolled back by an exception."""
        try:
            async with self.get_service("adb").session() as session:
                for v in payload["values"]:
                    await session.execute("INSERT INTO ledger (v) VALUES (:v)", {"v": v})
                if payload.get("fail"):
                    raise RuntimeError("the plugin changed its mind")
            return ok(failed=False)
        except Exception as exc:
            return failed(exc)

    @action()
    async def transaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Several statements in one ``conn.transaction()``; ``fail`` raises before the block ends."""
        try:
            async with self.get_service("adb").connection() as conn, conn.transaction():
                for v in payload["values"]:
                    await conn.execute("INSERT INTO ledger (v) VALUES ($1)", v)
                seen = await conn.fetchval("SELECT count(*) FROM ledger")
                if payload.get("fail"):
                    raise RuntimeError("the plugin changed its mind")
            return ok(failed=False, seen_inside=seen)
        except Exception as exc:
            return failed(exc)

    @action()
    async def hold(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Open a transaction, write, then wait (the test kills the worker meanwhile)."""
        async with self.get_service("adb").connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO ledger (v) VALUES ($1)", payload["v"])
            await asyncio.sleep(3600)
        return ok()

    @action()
    async def begin(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Keep a transaction open across calls (asyncpg's manual ``start``), named ``key``."""
        scope = self.get_service("adb").connection()
        conn = await scope.__aenter__()
        tx = conn.transaction()
        try:
            await tx.start()
        except Exception as exc:
            await scope.__aexit__(None, None, None)
            return failed(exc)
        self.held[payload["key"]] = (scope, conn, tx)
        return ok(failed=False)

    @action()
    async def write_in(self, payload: dict[str, Any]) -> dict[str, Any]:
        _, conn, _ = self.held[payload["key"]]
        try:
            await conn.execute("INSERT INTO ledger (v) VALUES ($1)", payload["v"])
        except Exception as exc:
            return failed(exc)
        return ok(failed=False)

    @action()
    async def finish(self, payload: dict[str, Any]) -> dict[str, Any]:
        scope, _, tx = self.held.pop(payload["key"])
        try:
            await (tx.commit() if payload.get("commit") else tx.rollback())
        except Exception as exc:
            return failed(exc)
        finally:
            await scope.__aexit__(None, None, None)
        return ok(failed=False)
