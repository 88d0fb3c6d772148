"""Social login for the `auth` module: providers, the flow, sessions and `g.user` (docs/auth.md)."""

from .user import User

__all__ = ["User"]
