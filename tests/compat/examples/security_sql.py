# Source: traoreera/xcore docs/guides/security.md @ b9e5bcb, "Secure Plugin Development / 2. SQL Injection Prevention"
# (the page uses TrustedBase without importing it; that import is added here)
from xcore.sdk import TrustedBase


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        self.db = self.get_service("db")

    async def get_user(self, user_id: str) -> dict:
        # ❌ NEVER do this
        # query = f"SELECT * FROM users WHERE id = '{user_id}'"

        # ✅ Use parameterized queries
        with self.db.session() as session:
            result = session.execute(
                "SELECT * FROM users WHERE id = :id",
                {"id": user_id}
            )
            return result.fetchone()
