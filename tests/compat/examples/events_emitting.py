# Source: traoreera/xcore docs/guides/events.md @ 7b9b32b, "Basic Usage / Emitting Events"
# (the page uses datetime.now() without importing it; that one import is added here)
from datetime import datetime

from xcore.sdk import TrustedBase


class Plugin(TrustedBase):

    def get_router(self):
        from fastapi import APIRouter
        router = APIRouter()

        @router.post("/users")
        async def create_user(data: dict):
            """Create user and emit event."""
            # Create user logic
            user_id = await self._create_user_in_db(data)

            # Emit event
            await self.ctx.events.emit("user.created", {
                "user_id": user_id,
                "username": data["username"],
                "email": data["email"],
                "timestamp": datetime.now().isoformat()
            })

            return {"id": user_id}

        @router.post("/orders")
        async def place_order(data: dict):
            """Place order and emit event."""
            order_id = await self._create_order(data)

            # Emit with source information
            await self.ctx.events.emit(
                "order.placed",
                {
                    "order_id": order_id,
                    "user_id": data["user_id"],
                    "amount": data["amount"],
                    "items": data["items"]
                },
                source="order_plugin"
            )

            return {"order_id": order_id}

        return router

    async def handle(self, action: str, payload: dict) -> dict:
        if action == "process":
            # Process something
            result = await self._process(payload)

            # Fire-and-forget event from synchronous code
            self.ctx.events.emit_sync("process.completed", {
                "action_id": payload.get("id"),
                "result": result
            })

            return {"status": "ok"}

        return {"status": "ok"}
