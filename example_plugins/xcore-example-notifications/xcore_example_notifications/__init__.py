"""Notifications through ``ext.email`` and files through ``ext.storage`` (spec: "Custom Extensions").

Both services are optional: the embedded defaults have local storage but no email. A missing one is
reported where it matters, clearly (spec "Best Practices": catch the ``KeyError``): routes answer
503 naming the config key to add, and ``/health/ready`` lists the plugin as working with
``"email": "not configured"``. ``notify_user`` looks the address up through the users plugin.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from xcore.sdk import TrustedBase, action, error, ok

HOW_TO = {
    "ext.email": "services.extensions.email (type: smtp, host, port, user, password)",
    "ext.storage": "services.extensions.storage (type: local or s3)",
}
MAX_UPLOAD = 10 * 1024 * 1024


class Notification(BaseModel):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    subject: str = Field("Notification", min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=10_000)


def not_configured(service: str) -> str:
    return f"{service} is not configured: add {HOW_TO[service]} to integration.yaml"


class Plugin(TrustedBase):
    requires = ("users",)

    async def on_load(self) -> None:
        self.email = self._optional("ext.email")
        self.storage = self._optional("ext.storage")

    def _optional(self, name: str) -> Any:
        try:
            return self.get_service(name)
        except KeyError:
            self.ctx.logger.warning("%s; the routes that need it answer 503", not_configured(name))
            return None

    async def health(self) -> dict[str, Any]:
        return {
            "email": "configured" if self.email is not None else "not configured",
            "storage": "configured" if self.storage is not None else "not configured",
        }

    def _need(self, service: Any, name: str) -> Any:
        if service is None:
            raise HTTPException(503, not_configured(name))
        return service

    # ------------------------------------------------------------------ the spec's two methods

    async def send_notification(self, user_email: str, message: str, subject: str = "Notification") -> Any:
        return await self._need(self.email, "ext.email").send(to=user_email, subject=subject, body=message)

    async def upload_file(self, file_data: bytes, filename: str) -> str:
        url: str = await self._need(self.storage, "ext.storage").upload(data=file_data, path=f"uploads/{filename}")
        return url

    # ------------------------------------------------------------------ HTTP

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/notify")
        async def notify(note: Notification) -> dict[str, Any]:
            sent = await self.send_notification(note.to, note.message, note.subject)
            return {"sent": True, "message_id": sent.message_id}

        @router.put("/files/{filename}", status_code=201)
        async def upload(filename: str, request: Request) -> dict[str, Any]:
            """Store the request body (raw bytes) as ``uploads/<filename>``."""
            data = await request.body()
            if not data:
                raise HTTPException(422, "the request body (the file's bytes) is empty")
            if len(data) > MAX_UPLOAD:
                raise HTTPException(413, f"files are limited to {MAX_UPLOAD} bytes")
            try:
                url = await self.upload_file(data, filename)
            except ValueError as exc:  # a bad key such as '..': refused before anything is written
                raise HTTPException(422, str(exc)) from None
            return {"url": url, "size": len(data)}

        @router.get("/files")
        async def list_files() -> dict[str, Any]:
            keys = await self._need(self.storage, "ext.storage").list("uploads/")
            return {"files": [key.removeprefix("uploads/") for key in keys]}

        @router.get("/files/{filename}")
        async def download(filename: str) -> Response:
            storage = self._need(self.storage, "ext.storage")
            try:
                data = await storage.download(f"uploads/{filename}")
            except FileNotFoundError:
                raise HTTPException(404, f"no file {filename!r}") from None
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            return Response(data, media_type="application/octet-stream")

        return router

    # ------------------------------------------------------------------ actions

    @action("notify_user")
    async def notify_user(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"user_id": 1, "message": "..."}``: email a user of the users plugin."""
        if self.email is None:
            return error(not_configured("ext.email"), code="service_unavailable")
        if not isinstance(payload.get("message"), str) or not payload["message"]:
            return error("message must be a non-empty string", code="invalid_payload")
        found = await self.ctx.call("users", "get_user", {"user_id": payload.get("user_id")})
        if found["status"] != "ok":
            return found
        sent = await self.email.send(to=found["user"]["email"], subject="Notification", body=payload["message"])
        return ok(sent_to=found["user"]["email"], message_id=sent.message_id)
