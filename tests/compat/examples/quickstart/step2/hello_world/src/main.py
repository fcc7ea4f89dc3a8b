# Source: traoreera/xcore doc/getting-started/quickstart.md @ 0a007ab, "Step 2: Create Your First Plugin"
from xcore.sdk import TrustedBase, ok, error


class Plugin(TrustedBase):
    """Hello World plugin demonstrating XCore basics."""

    async def on_load(self) -> None:
        """Called when plugin is loaded."""
        print("✅ Hello World plugin loaded!")

    async def on_unload(self) -> None:
        """Called when plugin is unloaded."""
        print("👋 Hello World plugin unloaded!")

    async def handle(self, action: str, payload: dict) -> dict:
        """Handle incoming action calls."""

        if action == "hello":
            name = payload.get("name", "World")
            return ok(message=f"Hello, {name}!")

        if action == "greet":
            name = payload.get("name", "Guest")
            language = payload.get("language", "en")

            greetings = {
                "en": f"Hello, {name}!",
                "fr": f"Bonjour, {name}!",
                "es": f"¡Hola, {name}!",
                "de": f"Hallo, {name}!",
            }

            return ok(
                message=greetings.get(language, greetings["en"]),
                language=language
            )

        return error(f"Unknown action: {action}", code="unknown_action")
