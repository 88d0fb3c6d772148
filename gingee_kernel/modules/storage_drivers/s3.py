"""The s3 driver: Amazon S3 or any S3-compatible store (MinIO, R2, Ceph) through boto3 (`gingee[s3]`).

Every key is stored as `<prefix><app>/<store>/<key>` in the configured bucket, so apps sharing a bucket
never see each other's objects. boto3 is blocking: its calls run on the driver's own small thread pool,
never on the event loop. An object larger than `part_size` is sent as a multipart upload, one part held
at a time, and aborted if anything fails, so a put that fails leaves nothing under the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from .base import Method, ObjectInfo, Opened, Page, StorageDriver
from .chunks import CHUNK
from .errors import ObjectNotFound, ObjectTooLarge, StorageError, StorageUnavailable

T = TypeVar("T")
MIN_PART = 5 * 1024 * 1024  # S3's smallest part (but the last)
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_OVERLOADED = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}
_AUTH = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "403"}
_RANGE_TOTAL = re.compile(r"/(\d+)$")


@dataclass(frozen=True)
class S3Settings:
    """A store's `s3` section, credentials already resolved from their references."""

    bucket: str
    prefix: str
    region: str | None
    endpoint_url: str | None
    path_style: bool
    part_size: int
    timeout: float
    credentials: dict[str, str]

    @classmethod
    def from_config(cls, section: dict[str, Any], timeout: float) -> S3Settings:
        names = {
            "access_key_id": "aws_access_key_id",
            "secret_access_key": "aws_secret_access_key",
            "session_token": "aws_session_token",
        }
        return cls(
            bucket=section["bucket"],
            prefix=section.get("prefix", ""),
            region=section.get("region"),
            endpoint_url=section.get("endpoint_url"),
            path_style=bool(section.get("path_style", False)),
            part_size=max(MIN_PART, int(section.get("part_size", 8 * 1024 * 1024))),
            timeout=timeout,
            credentials={boto: str(section[ours]) for ours, boto in names.items() if section.get(ours)},
        )


class S3Driver(StorageDriver):
    """One store in a bucket, under `<prefix><app>/<store>/`."""

    name = "s3"

    def __init__(self, settings: S3Settings, app: str, store: str) -> None:
        self.settings = settings
        self.store = store
        self.namespace = f"{settings.prefix}{app}/{store}/"
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"gingee-s3-{app}")
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if settings.path_style else "auto"},
            connect_timeout=settings.timeout,
            read_timeout=settings.timeout,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=8,
        )
        self.client = boto3.session.Session().client(
            "s3",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=config,
            **settings.credentials,
        )

    async def _call(self, key: str, func: Callable[..., T], /, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, partial(func, **kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise self._mapped(key, exc) from None

    def _mapped(self, key: str, exc: Exception) -> StorageError:
        """The one place a boto3 error becomes a storage error."""
        where = f"storage: store {self.store!r} (s3, bucket {self.settings.bucket!r})"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                return ObjectNotFound(key, store=self.store)
            if code == "NoSuchBucket":
                return StorageUnavailable(f"{where}: the bucket does not exist; create it", store=self.store)
            if code in _AUTH:
                return StorageUnavailable(
                    f"{where}: the provider refused the credentials ({code}); check the store's s3 "
                    "access_key_id and secret_access_key",
                    store=self.store,
                )
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if status >= 500 or code in _OVERLOADED:
                return StorageUnavailable(
                    f"{where}: the provider failed ({code or status}); nothing was changed, try again later",
                    store=self.store,
                )
            error = StorageError(f"{where}: {key!r}: {code}: {exc}", store=self.store)
            error.provider_code = code  # type: ignore[attr-defined]
            return error
        if isinstance(exc, EndpointConnectionError):
            return StorageUnavailable(
                f"{where}: could not reach {exc.kwargs.get('endpoint_url')}", store=self.store
            )
        return StorageUnavailable(f"{where}: {type(exc).__name__}: {exc}", store=self.store)

    # -- writing ---------------------------------------------------------------------------------------
    async def put(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str,
        metadata: dict[str, str],
        limit: int | None,
    ) -> ObjectInfo:
        name = self.namespace + key
        part = self.settings.part_size
        buffer = bytearray()
        size = 0
        upload: _Multipart | None = None
        try:
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise ObjectTooLarge(limit, store=self.store)
                buffer += chunk
                while len(buffer) >= part:
                    if upload is None:
                        upload = await self._start(key, name, content_type, metadata)
                    await upload.send(self, key, bytes(buffer[:part]))
                    del buffer[:part]
            if upload is None:
                reply = await self._call(
                    key, self.client.put_object, Bucket=self.settings.bucket, Key=name, Body=bytes(buffer),
                    ContentType=content_type, Metadata=metadata,
                )  # fmt: skip
                etag = reply["ETag"]
            else:
                if buffer or not upload.parts:
                    await upload.send(self, key, bytes(buffer))
                reply = await self._call(
                    key, self.client.complete_multipart_upload, Bucket=self.settings.bucket, Key=name,
                    UploadId=upload.id, MultipartUpload={"Parts": upload.parts},
                )  # fmt: skip
                etag = reply["ETag"]
                upload = None
        finally:
            if upload is not None:  # the put failed or was cancelled halfway: drop the parts sent
                await self._abort(name, upload.id)
        return ObjectInfo(key, size, etag.strip('"'), content_type, None, dict(metadata))

    async def _start(self, key: str, name: str, content_type: str, metadata: dict[str, str]) -> _Multipart:
        reply = await self._call(
            key, self.client.create_multipart_upload, Bucket=self.settings.bucket, Key=name,
            ContentType=content_type, Metadata=metadata,
        )  # fmt: skip
        return _Multipart(name, reply["UploadId"])

    async def _abort(self, name: str, upload_id: str) -> None:
        loop = asyncio.get_running_loop()
        abort = partial(
            self.client.abort_multipart_upload, Bucket=self.settings.bucket, Key=name, UploadId=upload_id
        )
        # If it fails, the bucket's lifecycle rule for incomplete uploads is the backstop (docs/storage.md).
        with contextlib.suppress(ClientError, BotoCoreError, asyncio.CancelledError):
            await asyncio.shield(loop.run_in_executor(self._pool, abort))

    # -- reading ---------------------------------------------------------------------------------------
    async def stat(self, key: str) -> ObjectInfo:
        reply = await self._call(
            key, self.client.head_object, Bucket=self.settings.bucket, Key=self.namespace + key
        )
        return self._info(key, reply, int(reply["ContentLength"]))

    def _info(self, key: str, reply: dict[str, Any], size: int) -> ObjectInfo:
        return ObjectInfo(
            key,
            size,
            str(reply.get("ETag", "")).strip('"'),
            reply.get("ContentType") or "application/octet-stream",
            reply.get("LastModified"),
            dict(reply.get("Metadata") or {}),
        )

    async def open(self, key: str, start: int = 0, stop: int | None = None) -> Opened:
        kwargs: dict[str, Any] = {"Bucket": self.settings.bucket, "Key": self.namespace + key}
        if start or stop is not None:
            if stop is not None and stop <= start:
                return await self._empty_range(key, start)
            kwargs["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        try:
            reply = await self._call(key, self.client.get_object, **kwargs)
        except StorageError as exc:
            if getattr(exc, "provider_code", None) == "InvalidRange":
                return await self._empty_range(key, start)  # past the end: empty, as a slice is
            raise
        total = _RANGE_TOTAL.search(str(reply.get("ContentRange", "")))
        length = int(reply["ContentLength"])
        info = self._info(key, reply, int(total.group(1)) if total else length)
        return Opened(info, start, start + length, self._read(key, reply["Body"]))

    async def _empty_range(self, key: str, start: int) -> Opened:
        info = await self.stat(key)
        start = min(start, info.size)
        return Opened(info, start, start, _empty())

    async def _read(self, key: str, body: Any) -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await self._call(key, body.read, amt=CHUNK)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    # -- the rest --------------------------------------------------------------------------------------
    async def delete(self, key: str) -> bool:
        try:
            await self.stat(key)
        except ObjectNotFound:
            return False
        await self._call(
            key, self.client.delete_object, Bucket=self.settings.bucket, Key=self.namespace + key
        )
        return True

    async def copy(self, source: str, target: str) -> ObjectInfo:
        bucket = self.settings.bucket
        await self._call(
            source, self.client.copy_object, Bucket=bucket, Key=self.namespace + target,
            CopySource={"Bucket": bucket, "Key": self.namespace + source}, MetadataDirective="COPY",
        )  # fmt: skip
        return await self.stat(target)

    async def list(self, prefix: str, cursor: str | None, limit: int) -> Page:
        kwargs: dict[str, Any] = {
            "Bucket": self.settings.bucket,
            "Prefix": self.namespace + prefix,
            "MaxKeys": limit,
        }
        if cursor:
            kwargs["ContinuationToken"] = cursor
        reply = await self._call(prefix, self.client.list_objects_v2, **kwargs)
        skip = len(self.namespace)
        items = [
            ObjectInfo(
                entry["Key"][skip:],
                int(entry["Size"]),
                str(entry.get("ETag", "")).strip('"'),
                None,
                entry.get("LastModified"),
            )
            for entry in reply.get("Contents", [])
        ]
        return Page(items, reply.get("NextContinuationToken") if reply.get("IsTruncated") else None)

    async def url(self, key: str, method: Method, expires: int, content_type: str | None) -> str:
        params: dict[str, Any] = {"Bucket": self.settings.bucket, "Key": self.namespace + key}
        if method == "PUT":
            operation = "put_object"
            if content_type:
                params["ContentType"] = content_type
        else:
            operation = "get_object"
            if content_type:
                params["ResponseContentType"] = content_type
        # Presigning is local computation (no request), so it runs here rather than in a thread.
        return self.client.generate_presigned_url(operation, Params=params, ExpiresIn=expires)

    async def close(self) -> None:
        self.client.close()
        self._pool.shutdown(wait=False)


class _Multipart:
    """A multipart upload in progress: its id and the parts sent so far."""

    def __init__(self, name: str, upload_id: str) -> None:
        self.name = name
        self.id = upload_id
        self.parts: list[dict[str, Any]] = []

    async def send(self, driver: S3Driver, key: str, data: bytes) -> None:
        number = len(self.parts) + 1
        reply = await driver._call(
            key, driver.client.upload_part, Bucket=driver.settings.bucket, Key=self.name, UploadId=self.id,
            PartNumber=number, Body=data,
        )  # fmt: skip
        self.parts.append({"PartNumber": number, "ETag": reply["ETag"]})


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""
