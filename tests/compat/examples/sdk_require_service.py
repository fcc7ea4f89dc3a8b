# Source: traoreera/xcore doc/reference/sdk.md @ 54346e3, "Décorateurs / @require_service()"
# (the page uses TrustedBase without importing it, and leaves both bodies as "..."; the import is
# added and each body returns what it found)
from xcore.sdk import require_service, ok, error, TrustedBase


class Plugin(TrustedBase):

    @require_service("db")
    async def handle(self, action: str, payload: dict) -> dict:
        """Cette méthode nécessite le service 'db'."""
        db = self.get_service("db")
        # Le décorateur lève KeyError si 'db' est indisponible
        # avant même d'entrer dans la méthode
        return ok(db=type(db).__name__)

    @require_service("cache", "db")
    async def complex_operation(self, payload: dict) -> dict:
        """Cette méthode nécessite 'cache' ET 'db'."""
        cache = self.get_service("cache")
        db = self.get_service("db")
        return ok()
