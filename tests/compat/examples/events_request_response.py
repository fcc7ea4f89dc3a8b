# Source: traoreera/xcore docs/guides/events.md @ 7b9b32b, "Event Patterns / Request/Response Pattern"
# (the page uses asyncio and TrustedBase without importing them; those imports are added here)
import asyncio

from xcore.sdk import TrustedBase


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        # Subscribe to requests
        self.ctx.events.on("payment.request", self._process_payment)

    async def _process_payment(self, event):
        """Process payment request."""
        request_id = event.data.get("request_id")
        amount = event.data.get("amount")
        currency = event.data.get("currency")

        try:
            # Process payment
            result = await self._charge_card(amount, currency)

            # Emit response
            await self.ctx.events.emit("payment.response", {
                "request_id": request_id,
                "status": "success",
                "transaction_id": result["id"]
            })
        except Exception as e:
            await self.ctx.events.emit("payment.response", {
                "request_id": request_id,
                "status": "failed",
                "error": str(e)
            })

    # Another plugin can listen for responses
    async def wait_for_payment(self, request_id: str):
        """Wait for payment response."""
        response = None

        @self.ctx.events.once("payment.response")
        async def on_response(event):
            if event.data.get("request_id") == request_id:
                nonlocal response
                response = event.data

        # Wait for response (with timeout)
        for _ in range(30):  # 30 seconds timeout
            await asyncio.sleep(1)
            if response:
                return response

        return {"status": "timeout"}
