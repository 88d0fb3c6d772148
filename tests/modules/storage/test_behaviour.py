"""One behaviour suite, run on the local driver and on S3 (moto's server mode on 127.0.0.1): what an app
relies on holds the same on both."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gingee_kernel import storage
from gingee_kernel.engine.context import app_context
from gingee_kernel.engine.manifest import validate
from gingee_kernel.errors import ManifestError, ModuleConfigError, PermissionDenied
from tests.fixtures.apps import MakeApp
from tests.fixtures.moto import CREDENTIALS, REGION, s3_client

MB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bucket(moto_s3: str) -> str:
    name = f"gingee-{uuid.uuid4().hex[:12]}"
    s3_client(moto_s3).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def store_config(driver: str, url: str, bucket: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "files", "driver": driver, **extra}
    if driver == "s3":
        entry["s3"] = {
            "bucket": bucket,
            "region": REGION,
            "endpoint_url": url,
            "path_style": True,
            "part_size": 5 * MB,
            "access_key_id": CREDENTIALS["aws_access_key_id"],
            "secret_access_key": CREDENTIALS["aws_secret_access_key"],
        }
    return entry


@pytest.fixture
def app_for(make_app: MakeApp, driver: str, moto_s3: str, bucket: str) -> Callable[..., Any]:
    # The app sets the S3 endpoint itself, so the egress policy must let it reach loopback.
    server = {"egress": {"allow_cidrs": ["127.0.0.1/32"]}}

    def factory(name: str = "shop", **extra: Any) -> Any:
        config = {"storage": [store_config(driver, moto_s3, bucket, **extra)]}
        return make_app(name, config=config, server=server, grants={"storage"})

    return factory


async def chunks_of(data: bytes, size: int, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for index in range(0, len(data), size):
        if fail_after is not None and index >= fail_after:
            raise ConnectionResetError("the client went away")
        yield data[index : index + size]


async def test_put_get_stat_round_trip(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        files = storage.store("files")
        info = await files.put("ada/notes.txt", "hello", metadata={"owner": "ada"})
        assert info.size == 5 and info.etag == hashlib.md5(b"hello").hexdigest()
        assert await files.get("ada/notes.txt") == b"hello"
        stat = await files.stat("ada/notes.txt")
        assert (stat.size, stat.etag, stat.content_type) == (5, info.etag, "text/plain")
        assert stat.metadata == {"owner": "ada"}
        assert await files.exists("ada/notes.txt") and not await files.exists("ada/other.txt")
        with pytest.raises(storage.ObjectNotFound):
            await files.get("ada/other.txt")


async def test_stream_reads_ranges_without_loading_whole(app_for: Callable[..., Any]) -> None:
    data = bytes(range(256)) * 4096 * 3  # 3 MiB, read a MiB at most at a time
    with app_context(app_for()):
        files = storage.store("files")
        await files.put("blob.bin", chunks_of(data, 64 * 1024), content_type="application/x-test")
        parts = [chunk async for chunk in files.stream("blob.bin")]
        assert b"".join(parts) == data and len(parts) > 1 and max(map(len, parts)) <= MB
        middle = b"".join([c async for c in files.stream("blob.bin", range=(1000, 5000))])
        assert middle == data[1000:5000]
        opened = await files.open("blob.bin", range=(len(data) - 10, None))
        assert (opened.info.size, await opened.read()) == (len(data), data[-10:])


async def test_list_pages_in_key_order(app_for: Callable[..., Any]) -> None:
    keys = [f"photos/{n:02d}.jpg" for n in range(7)] + ["photos-old/x.jpg", "docs/a.txt"]
    with app_context(app_for()):
        files = storage.store("files")
        for key in reversed(keys):
            await files.put(key, b"x")
        seen: list[str] = []
        cursor = None
        while True:
            page = await files.list("photos/", cursor=cursor, limit=3)
            assert len(page) <= 3
            seen.extend(item.key for item in page)
            cursor = page.cursor
            if cursor is None:
                break
        assert seen == sorted(k for k in keys if k.startswith("photos/"))
        assert [i.key for i in await files.list("photos")] == sorted(
            k for k in keys if k.startswith("photos")
        )


async def test_delete_and_copy(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        files = storage.store("files")
        await files.put("a/one.json", b"{}", metadata={"v": "1"})
        copied = await files.copy("a/one.json", "b/two.json")
        assert copied.size == 2 and (await files.stat("b/two.json")).metadata == {"v": "1"}
        assert (await files.stat("b/two.json")).content_type == "application/json"
        assert await files.delete("a/one.json") is True
        assert await files.delete("a/one.json") is False
        assert [i.key for i in await files.list()] == ["b/two.json"]


async def test_failed_put_leaves_the_old_object(app_for: Callable[..., Any]) -> None:
    data = b"y" * (12 * MB)  # over two S3 parts: the multipart upload must be aborted
    with app_context(app_for()):
        files = storage.store("files")
        await files.put("report.csv", b"old")
        with pytest.raises(ConnectionResetError):
            await files.put("report.csv", chunks_of(data, MB, fail_after=11 * MB))
        with pytest.raises(ConnectionResetError):
            await files.put("fresh.csv", chunks_of(data, MB, fail_after=6 * MB))
        assert await files.get("report.csv") == b"old"
        assert not await files.exists("fresh.csv")


async def test_multipart_upload_round_trips(app_for: Callable[..., Any], driver: str) -> None:
    data = hashlib.sha256(b"seed").digest() * (11 * MB // 32)
    with app_context(app_for()):
        files = storage.store("files")
        info = await files.put("big.bin", chunks_of(data, 700 * 1024))
        assert info.size == len(data)
        assert hashlib.sha256(await files.get("big.bin")).digest() == hashlib.sha256(data).digest()
        if driver == "s3":
            assert info.etag.endswith("-3")  # S3's multipart ETag: three 5 MiB parts


async def test_max_object_size_refuses_and_stores_nothing(app_for: Callable[..., Any]) -> None:
    with app_context(app_for(max_object_size="1kb")):
        files = storage.store("files")
        with pytest.raises(storage.ObjectTooLarge, match="1000 bytes"):
            await files.put("big.txt", b"z" * 1001)
        assert not await files.exists("big.txt")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs",
        "a//b",
        "a/",
        "../x",
        "a/../b",
        "./a",
        "a\\b",
        "nul\x00",
        "tab\tkey",
        "x" * 1025,
        "x" * 256,
        "a/" + "é" * 128,
    ],
)
async def test_key_rules_are_the_same_on_every_driver(app_for: Callable[..., Any], key: str) -> None:
    with app_context(app_for()):
        with pytest.raises(storage.InvalidKey):
            await storage.store("files").put(key, b"x")
        with pytest.raises(storage.InvalidKey):
            await storage.store("files").get(key)


async def test_apps_never_see_each_others_objects(app_for: Callable[..., Any]) -> None:
    with app_context(app_for("shop")):
        await storage.store("files").put("secret.txt", b"shop's")
    with app_context(app_for("blog")):
        files = storage.store("files")
        assert not await files.exists("secret.txt")
        assert len(await files.list()) == 0
        await files.put("secret.txt", b"blog's")
    with app_context(app_for("shop")):
        assert await storage.store("files").get("secret.txt") == b"shop's"


async def test_unknown_store_and_missing_grant(make_app: MakeApp, app_for: Callable[..., Any]) -> None:
    with (
        app_context(app_for()),
        pytest.raises(ModuleConfigError, match=r"no store named 'photos' \(configured: 'files'\)"),
    ):
        await storage.store("photos").put("a.txt", b"x")
    with app_context(make_app("nogrant")), pytest.raises(PermissionDenied):
        await storage.put("a.txt", b"x")


async def test_default_store_without_config(make_app: MakeApp) -> None:
    app = make_app("plain", grants={"storage"})
    with app_context(app):
        await storage.put("hello.txt", b"hi")
        assert await storage.get("hello.txt") == b"hi"
    assert (app.box / "data" / "storage" / "default" / "objects" / "hello.txt").read_bytes() == b"hi"


def test_manifest_errors_name_the_key() -> None:
    with pytest.raises(ManifestError) as info:
        validate("app", {"name": "x", "storage": [{"name": "files", "driver": "ftp"}]}, "web/x/box/app.json")
    assert "/storage/0/driver" in str(info.value)
    with pytest.raises(ManifestError) as info:
        validate("app", {"name": "x", "storage": [{"name": "f", "s3": {"secret_access_key": "plain"}}]}, "a")
    assert "/storage/0/s3/secret_access_key" in str(info.value) and "env:NAME" in str(info.value)


async def test_a_range_past_the_end_is_empty_as_a_slice_is(app_for: Callable[..., Any]) -> None:
    with app_context(app_for()):
        files = storage.store("files")
        await files.put("short.txt", "hello")
        for wanted in ((10, None), (5, None), (7, 9), (3, 3)):
            opened = await files.open("short.txt", range=wanted)
            assert await opened.read() == b"hello"[slice(*wanted)] == b""
            assert opened.info.size == 5 and opened.stop - opened.start == 0
        assert await (await files.open("short.txt", range=(3, 99))).read() == b"lo"
