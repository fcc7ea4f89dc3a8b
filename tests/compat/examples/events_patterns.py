# Source: traoreera/xcore docs/guides/events.md @ 7b9b32b, "Event Patterns" (Event Chaining,
# Conditional Handling, Event Broadcasting) and "Handler Registration Patterns / Class-based Handlers".
# Each page example defines `class Plugin`; here they are named after their section so they can
# share one module. The page uses TrustedBase and datetime without importing them; the imports
# are added here.
from datetime import datetime

from xcore.sdk import TrustedBase


class ChainingPlugin(TrustedBase):

    async def on_load(self) -> None:
        # Chain of events
        self.ctx.events.on("user.registered", self._on_user_registered)
        self.ctx.events.on("profile.created", self._on_profile_created)
        self.ctx.events.on("welcome.sent", self._on_welcome_sent)

    async def _on_user_registered(self, event):
        """Create profile after user registration."""
        user_id = event.data["user_id"]

        # Create profile
        profile = await self._create_profile(user_id)

        # Emit next event in chain
        await self.ctx.events.emit("profile.created", {
            "user_id": user_id,
            "profile_id": profile["id"]
        })

    async def _on_profile_created(self, event):
        """Send welcome email after profile creation."""
        user_id = event.data["user_id"]
        user = await self._get_user(user_id)

        # Send email
        await self._send_welcome_email(user["email"])

        await self.ctx.events.emit("welcome.sent", {
            "user_id": user_id,
            "email": user["email"]
        })

    async def _on_welcome_sent(self, event):
        """Log completion."""
        print(f"Onboarding complete for user {event.data['user_id']}")


class ConditionalPlugin(TrustedBase):

    async def on_load(self) -> None:
        # Only handle events for premium users
        self.ctx.events.on("order.placed", self._handle_premium_order)

    async def _handle_premium_order(self, event):
        """Handle order only for premium users."""
        user_id = event.data.get("user_id")

        # Check if user is premium
        is_premium = await self._is_premium_user(user_id)

        if not is_premium:
            # Skip this event
            return

        # Apply premium benefits
        await self._apply_discount(event.data["order_id"], percentage=10)
        await self._add_priority_shipping(event.data["order_id"])


class BroadcastingPlugin(TrustedBase):

    async def notify_all(self, message: str):
        """Broadcast notification to all listeners."""
        await self.ctx.events.emit("notification.broadcast", {
            "message": message,
            "timestamp": datetime.now().isoformat(),
            "priority": "high"
        })

    # Multiple plugins can listen:
    # - Email plugin sends email
    # - Push notification plugin sends push
    # - Logging plugin logs the notification
    # - Analytics plugin tracks metrics


class EventHandlers:
    """Separate event handlers for organization."""

    def __init__(self, plugin):
        self.plugin = plugin

    async def on_user_created(self, event):
        await self.plugin._send_welcome(event.data)

    async def on_order_placed(self, event):
        await self.plugin._process_order(event.data)


class ClassBasedPlugin(TrustedBase):

    async def on_load(self) -> None:
        self.handlers = EventHandlers(self)

        self.ctx.events.on("user.created", self.handlers.on_user_created)
        self.ctx.events.on("order.placed", self.handlers.on_order_placed)
