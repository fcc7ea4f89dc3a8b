# Source: traoreera/xcore docs/guides/security.md @ b9e5bcb, "Secure Plugin Development / 3. Authentication & Authorization"
from fastapi import APIRouter, HTTPException, Depends
from fastapi.security import HTTPBearer, HTTPAuthorizationCredentials
from xcore.sdk import TrustedBase
import jwt


class Plugin(TrustedBase):

    security = HTTPBearer()

    def get_router(self) -> APIRouter:
        router = APIRouter()

        async def verify_token(credentials: HTTPAuthorizationCredentials = Depends(self.security)):
            try:
                payload = jwt.decode(
                    credentials.credentials,
                    self.ctx.config.app.secret_key,
                    algorithms=["HS256"]
                )
                return payload
            except jwt.ExpiredSignatureError:
                raise HTTPException(401, "Token expired")
            except jwt.InvalidTokenError:
                raise HTTPException(401, "Invalid token")

        @router.get("/admin/data")
        async def admin_data(user=Depends(verify_token)):
            # Check admin role
            if user.get("role") != "admin":
                raise HTTPException(403, "Admin access required")

            return {"data": "sensitive"}

        return router
