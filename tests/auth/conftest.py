"""Fixtures for the login tests: real OAuth providers on 127.0.0.1 (free port), in the test's event loop.

`oidc_provider` is a plain OpenID Connect issuer, `microsoft_provider` the Entra ID v2-shaped one and
`github_provider` the GitHub-shaped OAuth 2 one (tests/fixtures/oidc_provider.py, github_provider.py).
Each is started for the test and stopped after it; register clients with `add_client(...)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gingee_kernel.practice.github import GithubProvider
from gingee_kernel.practice.oidc import OidcProvider


@pytest.fixture
async def oidc_provider() -> AsyncIterator[OidcProvider]:
    async with OidcProvider() as provider:
        yield provider


@pytest.fixture
async def microsoft_provider() -> AsyncIterator[OidcProvider]:
    async with OidcProvider(microsoft=True) as provider:
        yield provider


@pytest.fixture
async def github_provider() -> AsyncIterator[GithubProvider]:
    async with GithubProvider() as provider:
        yield provider
