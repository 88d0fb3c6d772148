"""Gingee's storage module against the plain calls it wraps, side by side in one run: the local driver
against plain file writes and reads, and the s3 driver against boto3 used directly on the same moto.

    python bench/storage.py [--objects 1000] [--object-kb 64] [--stream-mb 200] [--chunk-kb 1024]
                            [--s3-objects 200] [--no-s3] [--dir DIR] [--rounds 3] [--json]

Local, in a temporary folder (under --dir if given): `store.put(key, bytes)` of 1,000 x 64 KB objects,
then `store.get` of each, against writing the same bytes to a temporary file and `os.replace`-ing it into
place (the all-or-nothing write the driver does too), then reading each file back; and one 200 MB object
put from an async iterator of 1 MB chunks and read with `store.stream`, against writing and reading one
file in the same 1 MB chunks. The plain side calls the file functions directly, no thread. Goal:
gingee/plain >= 0.8.

S3: a moto server (ThreadedMotoServer, in this process, so it shares the GIL with both sides) on a free
127.0.0.1 port, one bucket per round; the s3 driver's put/get of 200 x 64 KB objects against boto3's
`put_object`/`get_object` called directly, one after the other, same sizes, same server. Goal:
gingee/boto3 >= 0.9.

A third side, "thread", runs the plain calls each in `asyncio.to_thread` (one hop per file, chunk or
request): the least any server pays to keep blocking work off its event loop, as the storage drivers do.
gingee/thread is printed beside the goal's ratio, to tell that cost from the module's own work.

Each round runs every side of every case, in an order that rotates from round to round; the medians of
`--rounds` are printed (objects/s or MB/s) with the ratios. Every read is checked against what was
written, and a mismatch fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gingee_kernel import storage
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.config import server_config
from gingee_kernel.engine.context import app_context

KB = 1024
MB = 1024 * 1024
REGION = "eu-west-1"
CREDENTIALS = {"aws_access_key_id": "bench-key", "aws_secret_access_key": "bench-secret"}
GOALS = {"local": 0.8, "s3": 0.9}


class Mismatch(Exception):
    """A read did not give back what was written."""


def make_app(root: Path, entry: dict[str, Any], server: dict[str, Any] | None = None) -> AppRuntime:
    """A one-store app under `root`, granted `storage`, as the loader would build it."""
    (root / "web" / "bench" / "box").mkdir(parents=True, exist_ok=True)
    config = {"name": "bench", "storage": [{"name": "files", **entry}]}
    grants = frozenset({"storage"})
    folder = root / "web" / "bench"
    return AppRuntime("bench", folder, config, server_config(server), grants, project_dir=root)


def _check(got: bytes | int, want: bytes | int, what: str) -> None:
    if got != want:
        raise Mismatch(f"{what}: read back something other than what was written")


# --- local: many small objects --------------------------------------------------------------------------

#: How a plain side runs each blocking call: `inline` (directly) or `asyncio.to_thread`.
Hop = Callable[..., Awaitable[Any]]


async def inline(func: Callable[..., Any], *args: Any) -> Any:
    """Call `func` right here, on the event loop: the plain side."""
    return func(*args)


async def gingee_objects(app: AppRuntime, payload: bytes, n: int) -> tuple[float, float]:
    """Seconds to put `n` objects, then to get them back."""
    with app_context(app):
        files = storage.store("files")
        await files.put("warm.bin", payload)
        _check(await files.get("warm.bin"), payload, "gingee warm-up")
        keys = [f"obj/{i:04d}.bin" for i in range(n)]
        started = time.perf_counter()
        for key in keys:
            await files.put(key, payload)
        put = time.perf_counter() - started
        started = time.perf_counter()
        for key in keys:
            _check(await files.get(key), payload, f"gingee get {key}")
        get = time.perf_counter() - started
    return put, get


def _write_file(part: str, path: str, data: bytes) -> None:
    with open(part, "wb") as handle:
        handle.write(data)
    os.replace(part, path)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


async def plain_objects(folder: Path, payload: bytes, n: int, hop: Hop) -> tuple[float, float]:
    """The same with files: write to a temporary file and rename it into place, then read each back."""
    objects, tmp = folder / "objects" / "obj", folder / "tmp"
    objects.mkdir(parents=True)
    tmp.mkdir()
    paths = [str(objects / f"{i:04d}.bin") for i in range(n)]
    started = time.perf_counter()
    for path in paths:
        await hop(_write_file, os.path.join(tmp, uuid.uuid4().hex), path, payload)
    put = time.perf_counter() - started
    started = time.perf_counter()
    for path in paths:
        _check(await hop(_read_file, path), payload, f"plain read {path}")
    get = time.perf_counter() - started
    return put, get


# --- local: one large stream ----------------------------------------------------------------------------


async def _chunks(chunk: bytes, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield chunk


async def gingee_stream(app: AppRuntime, chunk: bytes, count: int) -> tuple[float, float]:
    """Seconds to put `count` chunks as one object from an async iterator, then to stream it back."""
    with app_context(app):
        files = storage.store("files")
        await files.put("warm.bin", chunk)
        started = time.perf_counter()
        await files.put("big.bin", _chunks(chunk, count))
        put = time.perf_counter() - started
        started = time.perf_counter()
        size = 0
        async for part in files.stream("big.bin"):
            size += len(part)
        get = time.perf_counter() - started
    _check(size, len(chunk) * count, "gingee stream")
    return put, get


async def plain_stream(folder: Path, chunk: bytes, count: int, hop: Hop) -> tuple[float, float]:
    """The same with one file, written and read in the same chunks."""
    folder.mkdir(parents=True)
    path, part = str(folder / "big.bin"), str(folder / f"{uuid.uuid4().hex}.tmp")
    started = time.perf_counter()
    with open(part, "wb") as handle:
        async for block in _chunks(chunk, count):
            await hop(handle.write, block)
    os.replace(part, path)
    put = time.perf_counter() - started
    started = time.perf_counter()
    size = 0
    with open(path, "rb") as handle:
        while block := await hop(handle.read, len(chunk)):
            size += len(block)
    get = time.perf_counter() - started
    _check(size, len(chunk) * count, "plain stream")
    return put, get


# --- s3 -------------------------------------------------------------------------------------------------


def s3_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return boto3.client("s3", region_name=REGION, endpoint_url=url, config=config, **CREDENTIALS)


def s3_entry(url: str, bucket: str) -> dict[str, Any]:
    s3 = {
        "bucket": bucket,
        "region": REGION,
        "endpoint_url": url,
        "path_style": True,
        "access_key_id": CREDENTIALS["aws_access_key_id"],
        "secret_access_key": CREDENTIALS["aws_secret_access_key"],
    }
    return {"driver": "s3", "s3": s3}


async def boto3_objects(
    url: str, bucket: str, prefix: str, payload: bytes, n: int, hop: Hop
) -> tuple[float, float]:
    """Seconds to `put_object` `n` objects, then to `get_object` and read each, one after the other."""
    client = s3_client(url)
    client.put_object(Bucket=bucket, Key=f"{prefix}warm.bin", Body=payload)
    client.get_object(Bucket=bucket, Key=f"{prefix}warm.bin")["Body"].read()

    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=payload, ContentType="application/octet-stream")

    def get(key: str) -> bytes:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    keys = [f"{prefix}obj/{i:04d}.bin" for i in range(n)]
    started = time.perf_counter()
    for key in keys:
        await hop(put, key)
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    for key in keys:
        _check(await hop(get, key), payload, f"boto3 get {key}")
    get_s = time.perf_counter() - started
    client.close()
    return put_s, get_s


# --- the run --------------------------------------------------------------------------------------------

SIDES = ("gingee", "plain", "thread")
Side = Callable[[], Awaitable[tuple[float, float]]]


async def on_gingee(
    root: Path,
    entry: dict[str, Any],
    side: Callable[..., Awaitable[tuple[float, float]]],
    data: bytes,
    n: int,
    server: dict[str, Any] | None = None,
) -> tuple[float, float]:
    """Run one gingee side in a fresh app (its store created on first use, outside the clock)."""
    app = make_app(root, entry, server)
    try:
        return await side(app, data, n)
    finally:
        await app.close()


async def one_round(args: argparse.Namespace, r: int, tmp: Path, s3_url: str | None) -> dict[str, float]:
    """The three sides of every case once, in an order that rotates with `r`; seconds per phase."""
    small = os.urandom(args.object_kb * KB)
    chunk = os.urandom(args.chunk_kb * KB)
    count = args.stream_mb * MB // len(chunk)
    here = tmp / f"r{r}"
    local = {"driver": "local"}
    cases: dict[str, dict[str, Side]] = {
        "objects": {
            "gingee": lambda: on_gingee(here / "objects", local, gingee_objects, small, args.objects),
            "plain": lambda: plain_objects(here / "plain", small, args.objects, inline),
            "thread": lambda: plain_objects(here / "thread", small, args.objects, asyncio.to_thread),
        },
        "stream": {
            "gingee": lambda: on_gingee(here / "stream", local, gingee_stream, chunk, count),
            "plain": lambda: plain_stream(here / "plain-stream", chunk, count, inline),
            "thread": lambda: plain_stream(here / "thread-stream", chunk, count, asyncio.to_thread),
        },
    }
    if s3_url is not None:
        bucket = f"bench-{r}-{uuid.uuid4().hex[:8]}"
        client = s3_client(s3_url)
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.close()
        # The app sets the endpoint itself, so the egress policy must let it reach loopback.
        egress = {"egress": {"allow_cidrs": ["127.0.0.1/32"]}}
        entry, n = s3_entry(s3_url, bucket), args.s3_objects
        cases["s3"] = {
            "gingee": lambda: on_gingee(here / "s3", entry, gingee_objects, small, n, egress),
            "plain": lambda: boto3_objects(s3_url, bucket, "plain/", small, n, inline),
            "thread": lambda: boto3_objects(s3_url, bucket, "thread/", small, n, asyncio.to_thread),
        }
    results: dict[str, float] = {}
    order = SIDES[r % 3 :] + SIDES[: r % 3]
    for name, sides in cases.items():
        for side in order:
            put, get = await sides[side]()
            results.update({f"{name}_{side}_put_s": put, f"{name}_{side}_get_s": get})
    shutil.rmtree(here, ignore_errors=True)
    return results


def summarize(args: argparse.Namespace, rounds: list[dict[str, float]]) -> dict[str, Any]:
    """The median rate of every side and phase, the ratio gingee/plain (the goal's) and gingee/thread."""
    amounts = {
        "objects": (args.objects, "obj/s"),
        "stream": (args.stream_mb, "MB/s"),
        "s3": (args.s3_objects, "obj/s"),
    }
    figures: dict[str, Any] = {}
    for case, (amount, unit) in amounts.items():
        if f"{case}_gingee_put_s" not in rounds[0]:
            continue
        for op in ("put", "get"):
            rates = {s: statistics.median(amount / r[f"{case}_{s}_{op}_s"] for r in rounds) for s in SIDES}
            figures[f"{case}_{op}"] = {
                "unit": unit,
                **rates,
                "ratio": rates["gingee"] / rates["plain"],
                "ratio_per_round": [r[f"{case}_plain_{op}_s"] / r[f"{case}_gingee_{op}_s"] for r in rounds],
                "ratio_to_thread": rates["gingee"] / rates["thread"],
                "goal": GOALS["s3" if case == "s3" else "local"],
            }
    return figures


def report(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    cases = {
        "objects": (f"local, {args.objects} x {args.object_kb} KB objects", "files"),
        "stream": (f"local, one {args.stream_mb} MB object, {args.chunk_kb} KB chunks", "file"),
        "s3": (f"s3 on moto (127.0.0.1), {args.s3_objects} x {args.object_kb} KB objects", "boto3"),
    }
    print(f"median of {args.rounds} rounds, the order of the sides rotating")
    print(f"{'':50} {'gingee':>8} {'plain':>8}  {'ratio':>6} {'goal':>6}   {'thread':>8} {'ratio':>6}")
    for case, (label, plain) in cases.items():
        if f"{case}_put" not in figures:
            continue
        print(label)
        for op in ("put", "get"):
            f = figures[f"{case}_{op}"]
            what = f"  {'stream' if case == 'stream' and op == 'get' else op} ({f['unit']}, plain = {plain})"
            print(
                f"{what:50} {f['gingee']:8.0f} {f['plain']:8.0f}  {f['ratio']:5.2f}x {f['goal']:>6}"
                f"   {f['thread']:8.0f} {f['ratio_to_thread']:5.2f}x"
            )
    print("ratio: gingee/plain (the goal's); thread: the plain calls each in asyncio.to_thread, gingee/that")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1000, help="local small objects")
    parser.add_argument("--object-kb", type=int, default=64)
    parser.add_argument("--stream-mb", type=int, default=200)
    parser.add_argument("--chunk-kb", type=int, default=1024, help="chunks of the large object")
    parser.add_argument("--s3-objects", type=int, default=200)
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 case (no moto needed)")
    parser.add_argument("--dir", default=None, help="where the files go (default: the system's temp dir)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    server = None
    url = None
    if not args.no_s3:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
    rounds = []
    try:
        with tempfile.TemporaryDirectory(prefix="gingee-bench-storage-", dir=args.dir) as tmp:
            for r in range(args.rounds):
                rounds.append(await one_round(args, r, Path(tmp), url))
    except Mismatch as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
    figures = summarize(args, rounds)
    if args.json:
        print(json.dumps({"args": vars(args), "rounds": rounds, "figures": figures}, indent=2))
    else:
        report(args, figures)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
