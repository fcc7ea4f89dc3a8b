# Source: traoreera/xcore docs/guides/security.md @ b9e5bcb, "Incident Response / Detecting Security Issues"
# (the page uses TrustedBase, ok, error and time without importing them; those imports are added here)
import time

from xcore.sdk import TrustedBase, ok, error


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        # Log security events
        self.ctx.events.on("security.suspicious", self._on_suspicious)

    async def handle(self, action: str, payload: dict) -> dict:
        # Log failed auth attempts
        if action == "login":
            success = await self._authenticate(payload)
            if not success:
                await self.ctx.events.emit("security.failed_login", {
                    "ip": payload.get("client_ip"),
                    "username": payload.get("username"),
                    "timestamp": time.time()
                })
                return error("Authentication failed")

        return ok()

    async def _on_suspicious(self, event):
        """Handle suspicious activity."""
        # Alert administrators
        # Block IP if necessary
        # Log to security system
        pass
