"""``POST /v1/auth/token``: the OAuth2 password flow (form fields username/password)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from lakesmith.api.deps import CHALLENGE, Reader, Users
from lakesmith.api.schemas import Token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], users: Users) -> Token:
    """Exchange a user name and password for a bearer token."""
    who = users.authenticate(form.username, form.password)
    if who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong user name or password",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    return users.token(who)


@router.get("/me")
def me(who: Reader) -> dict[str, str]:
    """Who the credentials belong to, and their role."""
    return {"name": who.name, "role": who.role}
