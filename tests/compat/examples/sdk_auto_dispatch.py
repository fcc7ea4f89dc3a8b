# Source: traoreera/xcore doc/reference/sdk.md @ 54346e3, "Mixins / AutoDispatchMixin"
from xcore.sdk import AutoDispatchMixin, action, TrustedBase, ok


class Plugin(AutoDispatchMixin, TrustedBase):
    """
    Les méthodes décorées avec @action sont automatiquement
    dispatchées par handle().
    """

    @action("add")
    async def add_numbers(self, payload: dict) -> dict:
        result = payload["a"] + payload["b"]
        return ok(result=result)

    @action("multiply")
    async def multiply_numbers(self, payload: dict) -> dict:
        result = payload["a"] * payload["b"]
        return ok(result=result)

    @action("status")
    async def get_status(self, payload: dict) -> dict:
        return ok(
            loaded=True,
            version=self.ctx.version
        )
