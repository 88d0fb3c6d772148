"""`g.user`: who is logged in to the app, as the provider vouched for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Claims kept in the session cookie when the provider's full set would make it too large.
CORE_CLAIMS = ("iss", "sub", "aud", "tid", "email", "email_verified", "name", "picture", "login", "hd")


@dataclass(frozen=True)
class User:
    """A logged-in user: the provider entry's name, the provider's stable subject id, the email (and
    whether the provider verified it), display name, picture URL and the provider's raw claims."""

    provider: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    picture: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        """`<provider>:<subject>`: unique across the app's providers (an email is not: two providers may
        both vouch for one address, and an address can change hands)."""
        return f"{self.provider}:{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        """The user as JSON-ready data (what `/_auth/me` answers)."""
        return {"id": self.id, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> User:
        """The user `to_dict` wrote (unknown keys ignored)."""
        claims = data.get("claims")
        return cls(
            provider=str(data["provider"]),
            subject=str(data["subject"]),
            email=_text(data.get("email")),
            email_verified=data.get("email_verified") is True,
            name=_text(data.get("name")),
            picture=_text(data.get("picture")),
            claims=dict(claims) if isinstance(claims, dict) else {},
        )

    def trimmed(self) -> User:
        """The same user with only the core claims (for a session cookie that must stay small)."""
        kept = {k: v for k, v in self.claims.items() if k in CORE_CLAIMS}
        return User(
            self.provider, self.subject, self.email, self.email_verified, self.name, self.picture, kept
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def as_user(value: User | dict[str, Any] | str, provider: str = "notebook") -> User:
    """A User from a User, a dict of its fields (or of claims: `sub`, `email`, ...) or an email address:
    how a notebook names the user it calls routes as (`app.request(..., user="ada@example.org")`)."""
    if isinstance(value, User):
        return value
    if isinstance(value, str):
        if not value:
            raise ValueError("user: give an email address, a dict or a User")
        return User(provider, value, email=value if "@" in value else None, email_verified="@" in value)
    if isinstance(value, dict):
        subject = value.get("subject") or value.get("sub") or value.get("email")
        if not subject:
            raise ValueError("user: a dict needs 'subject' (or 'sub', or 'email')")
        return User(
            provider=str(value.get("provider") or provider),
            subject=str(subject),
            email=_text(value.get("email")),
            email_verified=value.get("email_verified", bool(value.get("email"))) is True,
            name=_text(value.get("name")),
            picture=_text(value.get("picture")),
            claims=dict(value.get("claims") or {k: v for k, v in value.items() if k != "provider"}),
        )
    raise TypeError(f"user: give an email address, a dict or a User, not {type(value).__name__}")
