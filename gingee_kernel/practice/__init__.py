"""Practice login providers, real enough to log in against: an OpenID Connect issuer (also shaped as
Microsoft Entra ID) and a GitHub-shaped OAuth 2 provider, on 127.0.0.1, built from authlib's server side.

The tests run every login check against them (tests/auth); a workshop notebook logs in with them when no
Google, Microsoft or GitHub client is at hand (notebooks/06-logins.ipynb). They keep everything in
memory and approve every login at once as their `user`: never use them to guard anything real.
Needs the `auth` extra (authlib).
"""

from .github import GithubProvider
from .oidc import OidcProvider

__all__ = ["GithubProvider", "OidcProvider"]
