# Source: traoreera/xcore docs/guides/events.md @ 7b9b32b, "System Events"
from xcore.sdk import TrustedBase


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        # System startup
        self.ctx.events.on("xcore.booted", self._on_system_boot)

        # Plugin lifecycle
        self.ctx.events.on("xcore.plugins.loaded", self._on_plugins_loaded)
        self.ctx.events.on("plugin.*.reloaded", self._on_plugin_reloaded)

        # Service events
        self.ctx.events.on("service.error", self._on_service_error)

    async def _on_system_boot(self, event):
        """System has finished booting."""
        print("XCore system is ready!")

    async def _on_plugins_loaded(self, event):
        """All plugins have been loaded."""
        report = event.data.get("report", {})
        loaded = len(report.get("loaded", []))
        print(f"{loaded} plugins loaded successfully")

    async def _on_plugin_reloaded(self, event):
        """A plugin was reloaded."""
        # Event name pattern: plugin.{name}.reloaded
        print(f"Plugin event: {event.name}")

    async def _on_service_error(self, event):
        """Service error occurred."""
        service_name = event.data.get("service")
        error_msg = event.data.get("error")
        print(f"Service {service_name} error: {error_msg}")
