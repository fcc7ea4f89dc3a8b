# Source: traoreera/xcore doc/guides/creating-plugins.md @ 0609a91, "Hooks de Cycle de Vie"
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    async def on_init(self):
        """Appelé à l'instanciation initiale, avant l'accès aux services."""
        pass

    async def on_load(self):
        """Appelé une fois les services et dépendances prêts. Initialisez vos données ici."""
        self.db = self.get_service("db")
        print(f"Plugin {self.ctx.name} prêt !")

    async def on_reload(self):
        """Appelé lors d'un hot-reload sans redémarrage du framework."""
        pass

    async def on_unload(self):
        """Nettoyez les ressources (connexions, timers) ici."""
        pass
