# Source: traoreera/xcore docs/guides/events.md @ 7b9b32b, "Best Practices"
from xcore.sdk import TrustedBase


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        """Set up event handlers."""
        events = self.ctx.events

        # High priority: validation
        events.on("order.placed", self._validate_order, priority=100)

        # Medium priority: processing
        events.on("order.placed", self._process_order, priority=50)

        # Low priority: notifications
        events.on("order.placed", self._notify_user, priority=10)

    async def _validate_order(self, event):
        """Validate order before processing."""
        try:
            is_valid = await self._check_order_valid(event.data)
            if not is_valid:
                event.stop()
                await self._log_invalid_order(event.data)
        except Exception as e:
            # Log but don't stop other handlers
            print(f"Validation error: {e}")

    async def _process_order(self, event):
        """Process validated order."""
        try:
            # Delegate to background task
            await self._schedule_order_processing(event.data)
        except Exception as e:
            await self.ctx.events.emit("order.processing_failed", {
                "order_id": event.data["order_id"],
                "error": str(e)
            })

    async def on_unload(self) -> None:
        """Clean up event handlers."""
        self.ctx.events.clear("order.placed")
