# Source: traoreera/xcore doc/reference/sdk.md @ 54346e3, "Décorateurs / @route()"
# (the page uses TrustedBase without importing it; that import is added here)
from xcore.sdk import RoutedPlugin, route, TrustedBase


class Plugin(RoutedPlugin, TrustedBase):
    """Plugin avec routes HTTP automatiques."""

    @route("/items", method="GET", tags=["items"])
    async def list_items(self):
        """Liste tous les items."""
        return [{"id": 1, "name": "foo"}, {"id": 2, "name": "bar"}]

    @route("/items/{item_id}", method="GET", tags=["items"])
    async def get_item(self, item_id: int):
        """Récupère un item par ID."""
        return {"id": item_id, "name": f"Item {item_id}"}

    @route("/items", method="POST", tags=["items"], status_code=201)
    async def create_item(self, body: dict):
        """Crée un nouvel item."""
        return {"id": 3, "created": True, "data": body}

    @route("/items/{item_id}", method="PUT", tags=["items"])
    async def update_item(self, item_id: int, body: dict):
        """Met à jour un item."""
        return {"id": item_id, "updated": True, "data": body}

    @route("/items/{item_id}", method="DELETE", tags=["items"])
    async def delete_item(self, item_id: int):
        """Supprime un item."""
        return {"id": item_id, "deleted": True}
