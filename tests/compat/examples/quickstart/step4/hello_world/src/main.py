# Source: traoreera/xcore doc/getting-started/quickstart.md @ 0a007ab, "Step 4: Add HTTP Routes"
from fastapi import APIRouter
from xcore.sdk import TrustedBase, ok, error


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        print("✅ Hello World plugin loaded!")

    def get_router(self) -> APIRouter:
        """Define custom HTTP routes."""
        router = APIRouter(prefix="/hello", tags=["hello"])

        @router.get("/")
        async def hello_root():
            return {"message": "Hello World API"}

        @router.get("/{name}")
        async def hello_name(name: str):
            return {"message": f"Hello, {name}!"}

        @router.post("/greet")
        async def greet(data: dict):
            name = data.get("name", "Guest")
            return {"message": f"Hello, {name}!"}

        return router

    async def handle(self, action: str, payload: dict) -> dict:
        if action == "hello":
            return ok(message="Hello from IPC!")
        return error("Unknown action")
