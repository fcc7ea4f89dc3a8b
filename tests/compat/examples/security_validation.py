# Source: traoreera/xcore docs/guides/security.md @ b9e5bcb, "Secure Plugin Development / 1. Input Validation"
from pydantic import BaseModel, EmailStr, Field, validator
from xcore.sdk import TrustedBase, ok, error


class CreateUserInput(BaseModel):
    username: str = Field(min_length=3, max_length=50)
    email: EmailStr
    age: int = Field(ge=0, le=150)
    password: str = Field(min_length=8)

    @validator('password')
    def password_strength(cls, v):
        if not any(c.isupper() for c in v):
            raise ValueError('Password must contain uppercase')
        if not any(c.islower() for c in v):
            raise ValueError('Password must contain lowercase')
        if not any(c.isdigit() for c in v):
            raise ValueError('Password must contain digit')
        return v


class Plugin(TrustedBase):

    async def handle(self, action: str, payload: dict) -> dict:
        if action == "create_user":
            try:
                # Validate input
                validated = CreateUserInput(**payload)

                # Process validated data
                await self._create_user(validated)

                return ok(user_id="123")

            except ValueError as e:
                return error(str(e), code="validation_error")

        return ok()
