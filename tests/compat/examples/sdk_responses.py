# Source: traoreera/xcore doc/reference/sdk.md @ 54346e3, "Helpers de réponse / Exemple complet"
from xcore.sdk import TrustedBase, ok, error


class UserPlugin(TrustedBase):

    async def handle(self, action: str, payload: dict) -> dict:
        if action == "get_user":
            user_id = payload.get("user_id")

            if not user_id:
                return error("user_id is required", code="missing_param")

            user = await self._fetch_user(user_id)

            if not user:
                return error(f"User {user_id} not found", code="not_found")

            return ok(user=user)

        if action == "create_user":
            try:
                user = await self._create_user(payload)
                return ok(
                    message="User created successfully",
                    user_id=user["id"]
                )
            except ValueError as e:
                return error(str(e), code="validation_error")
            except Exception as e:
                return error("Internal error", code="internal_error")

        return error(f"Unknown action: {action}", code="unknown_action")
