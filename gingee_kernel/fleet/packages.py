"""Where a fleet keeps its packages: beside the registry in Redis (the default), or in an S3 bucket
(gingee.json `cluster.packages: {"driver": "s3", "s3": {...}}`, the storage module's s3 driver and
settings), which suits large packages and large fleets. Packages are content-addressed (`<hash>.gin`), so
a package is written once and never changes; the registry entry says which one each app is at."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from ..errors import ManifestError, ModuleConfigError
from .registry import Registry

#: The S3 driver's `<prefix><app>/<store>/` namespace: the fleet's packages live under `_fleet/<name>/`.
S3_APP = "_fleet"


class PackageStore(Protocol):
    name: str

    async def put(self, content_hash: str, data: bytes) -> None: ...

    async def get(self, content_hash: str) -> bytes | None: ...

    async def close(self) -> None: ...


class RedisPackages:
    """Packages as Redis strings under the registry's prefix (`pkg:<hash>`)."""

    name = "redis"

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def put(self, content_hash: str, data: bytes) -> None:
        await self.registry.redis.set(self.registry.package_key(content_hash), data)

    async def get(self, content_hash: str) -> bytes | None:
        return await self.registry.package(content_hash)

    async def close(self) -> None:
        return None


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class S3Packages:
    """Packages as `<prefix>_fleet/<fleet name>/<hash>.gin` objects in a bucket."""

    name = "s3"

    def __init__(self, section: dict[str, Any], fleet: str) -> None:
        from ..modules.storage_drivers.s3 import S3Driver, S3Settings

        self.driver = S3Driver(S3Settings.from_config(section, timeout=30.0), S3_APP, fleet)

    async def put(self, content_hash: str, data: bytes) -> None:
        from ..modules.storage_drivers.errors import ObjectNotFound

        key = f"{content_hash}.gin"
        try:
            await self.driver.stat(key)  # content-addressed: already there means already right
            return
        except ObjectNotFound:
            pass
        await self.driver.put(key, _once(data), "application/zip", {}, None)

    async def get(self, content_hash: str) -> bytes | None:
        from ..modules.storage_drivers.errors import ObjectNotFound

        try:
            opened = await self.driver.open(f"{content_hash}.gin")
        except ObjectNotFound:
            return None
        return await opened.read()

    async def close(self) -> None:
        await self.driver.close()


def package_store(config: dict[str, Any], registry: Registry) -> PackageStore:
    """The store gingee.json `cluster.packages` names (Redis when it names none)."""
    section = (config.get("cluster") or {}).get("packages") or {}
    if section.get("driver", "redis") != "s3":
        return RedisPackages(registry)
    if not (section.get("s3") or {}).get("bucket"):
        expected = 'an object naming the "bucket" (driver s3)'
        raise ManifestError("gingee.json", "/cluster/packages/s3", expected)
    try:
        return S3Packages(section["s3"], str(config["cluster"]["name"]))
    except ImportError as exc:
        raise ModuleConfigError(
            f"gingee.json cluster.packages.driver 's3' needs boto3: pip install 'gingee[s3]' ({exc})"
        ) from None
