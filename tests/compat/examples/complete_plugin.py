# Source: traoreera/xcore doc/examples/complete-plugin.md @ 3bd9c74, "3. Implementation (src/main.py)"
from pydantic import BaseModel, EmailStr
from xcore.sdk import TrustedBase, AutoDispatchMixin, RoutedPlugin, action, route, ok, error, validate_payload

# 1. Define Request Schemas
class SendEmailPayload(BaseModel):
    recipient: EmailStr
    subject: str
    body: str

class NotificationLog(BaseModel):
    user_id: int
    message: str

# 2. Plugin Implementation
class Plugin(AutoDispatchMixin, RoutedPlugin, TrustedBase):
    """
    A robust Email Notification plugin with full validation and
    database logging.
    """

    async def on_load(self) -> None:
        # Access external services
        self.email_svc = self.get_service("ext.email_service")
        self.db = self.get_service("db")

        # Subscribe to user creation events
        self.ctx.events.on("user.created", self._on_user_created)
        print("Email Notify Plugin Ready!")

    # --- IPC Actions ---

    @action("send")
    @validate_payload(SendEmailPayload)
    async def send_email_action(self, payload: dict) -> dict:
        """Sends an email and logs it to the database."""
        try:
            # 1. Send via external service
            await self.email_svc.send(
                payload["recipient"],
                payload["subject"],
                payload["body"]
            )

            # 2. Log to database
            async with self.db.session() as session:
                await session.execute(
                    "INSERT INTO logs (recipient, sent_at) VALUES (:r, :t)",
                    {"r": payload["recipient"], "t": "NOW()"}
                )

            return ok(message="Email sent and logged.")

        except Exception as e:
            return error(f"Failed to send email: {str(e)}", code="email_failed")

    # --- HTTP Routes ---

    @route("/status", method="GET", tags=["monitoring"])
    async def get_plugin_status(self):
        """Returns the current status of the email service."""
        health, msg = await self.email_svc.health_check()
        return {
            "service": "email_notify",
            "external_service_ok": health,
            "message": msg
        }

    # --- Event Handlers ---

    async def _on_user_created(self, event):
        """Automatically send a welcome email when a user is created."""
        user_email = event.data.get("email")
        if user_email:
            await self.ctx.plugins.call("email_notify", "send", {
                "recipient": user_email,
                "subject": "Welcome to XCore!",
                "body": "Your account has been successfully created."
            })
