# Source: traoreera/xcore docs/guides/security.md @ b9e5bcb, "Secure Plugin Development / 4. Secrets Management"
# (the page uses TrustedBase without importing it; that import is added here)
from xcore.sdk import TrustedBase


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        # ✅ Get from environment
        self.api_key = self.ctx.env.get("EXTERNAL_API_KEY")

        if not self.api_key:
            raise RuntimeError("EXTERNAL_API_KEY not set")

    async def call_external_api(self, data: dict):
        # Use the API key securely
        headers = {"Authorization": f"Bearer {self.api_key}"}
        # ... make request
