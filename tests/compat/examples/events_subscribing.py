# Source: traoreera/xcore docs/guides/events.md @ 7b9b32b, "Basic Usage / Subscribing to Events"
from xcore.sdk import TrustedBase


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        """Subscribe to events during plugin load."""
        # Subscribe to user creation events
        self.ctx.events.on("user.created", self._on_user_created)

        # Subscribe with priority (higher = earlier)
        self.ctx.events.on("order.placed", self._validate_order, priority=100)
        self.ctx.events.on("order.placed", self._send_confirmation, priority=50)

        # One-time subscription
        self.ctx.events.once("system.ready", self._on_system_ready)

    async def _on_user_created(self, event):
        """Handle user creation."""
        user_id = event.data.get("user_id")
        email = event.data.get("email")

        print(f"User {user_id} created with email {email}")

        # Could send welcome email here

    async def _validate_order(self, event):
        """Validate order (runs first due to high priority)."""
        order_id = event.data.get("order_id")

        # Validation logic
        is_valid = await self._check_inventory(order_id)

        if not is_valid:
            # Stop propagation to other handlers
            event.stop()
            print(f"Order {order_id} validation failed")

    async def _send_confirmation(self, event):
        """Send order confirmation email."""
        order_id = event.data.get("order_id")
        user_email = event.data.get("email")

        print(f"Sending confirmation for order {order_id} to {user_email}")

    async def _on_system_ready(self, event):
        """Handle system ready (runs once)."""
        print("System is ready!")
        # Initialize plugin resources

    async def on_unload(self) -> None:
        """Clean up subscriptions."""
        # Unsubscribe from events
        self.ctx.events.unsubscribe("user.created", self._on_user_created)
