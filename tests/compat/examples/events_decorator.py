# Source: traoreera/xcore docs/guides/events.md @ 7b9b32b, "Handler Registration Patterns / Decorator Style"
from xcore.sdk import TrustedBase


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        # Register using decorators
        events = self.ctx.events

        @events.on("user.created", priority=50)
        async def send_welcome(event):
            await self._send_email(event.data["email"])

        @events.on("order.placed", priority=100)
        async def validate(event):
            if not await self._check_stock(event.data["items"]):
                event.stop()

        # Keep references to unregister later
        self._handlers = [send_welcome, validate]

    async def on_unload(self) -> None:
        # Clean up handlers
        for handler in getattr(self, "_handlers", []):
            self.ctx.events.unsubscribe("user.created", handler)
