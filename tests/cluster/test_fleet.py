"""A fleet of real `gingee serve` nodes over the test Redis: a change made on any node (operator API or
CLI) reaches every other node through the registry; a node that was down catches up before it reports
ready; `/_gingee/api/cluster` shows the nodes, their versions and which are stale."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from gingee_kernel.lifecycle.client import deploy
from gingee_kernel.lifecycle.package import pack

from .fleet import AUTH, TOKEN

CACHE_USER = """from gingee_kernel import cache

async def handle(g):
    await cache.set("k", "v")
    g.response.send({"cached": await cache.get("k")})
"""


def cluster(node) -> dict:
    answer = node.get("/_gingee/api/cluster", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()


def audit(node) -> list[dict]:
    path = node.project / "logs" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_upgrade_on_one_node_reaches_every_node(fleet) -> None:
    running = fleet(3).start()
    assert running.versions() == ["1.0.0"] * 3
    answer = deploy(running.app_folder("2.0.0"), running.nodes[0].url(), token=TOKEN)
    assert answer["fleet"]["node"] == "n1" and answer["fleet"]["rev"] >= 1
    running.wait_for_versions(["2.0.0"] * 3, "all serve 2.0.0")
    # The others applied it through the lifecycle: backed up, audited as coming from n1.
    for node in running.nodes[1:]:
        entries = [e for e in audit(node) if e.get("action") == "fleet"]
        assert entries and entries[-1]["who"] == "fleet:n1" and entries[-1]["to_version"] == "2.0.0"
        assert list((node.project / "backups" / "shop").glob("shop-1.0.0-*.gin"))

    view = cluster(running.nodes[2])
    assert view["node"] == "n3" and view["synced"] is True
    assert view["apps"]["shop"]["version"] == "2.0.0" and view["apps"]["shop"]["node"] == "n1"

    def reported() -> set[str]:
        return {n["apps"].get("shop", {}).get("version") for n in cluster(running.nodes[2])["nodes"]}

    running.nodes[2].wait_until(lambda: reported() == {"2.0.0"}, "report 2.0.0 in every heartbeat")
    nodes = cluster(running.nodes[2])["nodes"]
    assert [n["id"] for n in nodes] == ["n1", "n2", "n3"]
    assert {n["apps"]["shop"]["hash"] for n in nodes} == {view["apps"]["shop"]["hash"]}
    assert not any(n["stale"] for n in nodes)


def test_a_node_that_was_down_catches_up_and_a_dead_node_goes_stale(fleet) -> None:
    running = fleet(3).start()
    late = running.nodes[2]
    late.stop()
    deploy(running.app_folder("2.0.0"), running.nodes[0].url(), token=TOKEN)
    deploy(running.app_folder("3.0.0"), running.nodes[1].url(), token=TOKEN)  # on another node
    running.nodes[0].wait_until(lambda: running.nodes[0].get("/shop/version").json()["version"] == "3.0.0",
                                "follow n2's upgrade")  # fmt: skip
    # n3 still has 1.0.0 on disk; on its return it serves 3.0.0 before it says it is ready.
    late.start(wait=False)
    late.wait_until(lambda: late.get("/_gingee/health/ready").status_code == 200, "become ready")
    assert late.get("/shop/version").json() == {"version": "3.0.0"}
    assert json.loads((late.project / "web/shop/box/app.json").read_text())["version"] == "3.0.0"

    running.nodes[1].kill()
    running.nodes[0].wait_until(
        lambda: {n["id"]: n["stale"] for n in cluster(running.nodes[0])["nodes"]}.get("n2") is True,
        "mark the killed node stale",
    )
    assert {n["id"]: n["stale"] for n in cluster(running.nodes[0])["nodes"]} == {
        "n1": False,
        "n2": True,
        "n3": False,
    }


def test_cli_grants_and_removals_reach_every_node(fleet) -> None:
    running = fleet(2)
    for node in running.nodes:
        (node.project / "web/shop/box/cached.py").write_text(CACHE_USER)
        pmft = {"permissions": {"mandatory": ["cache"]}}
        (node.project / "web/shop/box/pmft.json").write_text(json.dumps(pmft))
    running.start()
    first, second = running.nodes
    assert second.get("/shop/cached").status_code == 500  # not granted yet (the script lets the denial out)
    granted = subprocess.run(
        [sys.executable, "-m", "gingee_kernel", "grant", str(first.project), "shop", "cache"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert granted.returncode == 0, granted.stderr
    assert "published to fleet" in granted.stdout
    # n1's own server reloads too: the CLI changed its disk, the registry says so.
    for node in (first, second):
        node.wait_until(lambda n=node: n.get("/shop/cached").status_code == 200, "serve with the grant")
    grants = json.loads((second.project / "settings/permissions.json").read_text())
    assert grants["shop"]["granted"] == ["cache"]

    removed = httpx.delete(second.url("/_gingee/api/apps/shop"), headers=AUTH, timeout=30)
    assert removed.status_code == 200, removed.text
    first.wait_until(lambda: first.get("/shop/version").status_code == 404, "remove the app")
    assert not (first.project / "web/shop").exists()
    assert cluster(first)["apps"]["shop"]["removed"] is True


def test_a_package_whose_hash_does_not_match_is_refused_and_the_old_version_serves(fleet, tmp_path) -> None:
    running = fleet(2).start()
    first, second = running.nodes
    good = pack(running.app_folder("2.0.0"), tmp_path / "good.gin")
    evil = pack(running.app_folder("6.6.6"), tmp_path / "evil.gin")
    deploy(good, first.url(), token=TOKEN)
    running.wait_for_versions(["2.0.0", "2.0.0"], "serve 2.0.0")
    # Someone with write access to Redis swaps the stored package's bytes.
    import redis

    from gingee_kernel.lifecycle.package import Package

    client = redis.Redis.from_url(running.redis_url)
    prefix = f"gingee:fleet:{{{running.name}}}:"
    entry = json.loads(client.hget(f"{prefix}apps", "shop"))
    with Package.open(evil) as package:
        entry["hash"], entry["version"] = package.sha256, "6.6.6"
    client.set(f"{prefix}pkg:{entry['hash']}", good.read_bytes())  # bytes of another package
    client.hset(f"{prefix}apps", "shop", json.dumps(entry))
    client.incr(f"{prefix}rev")
    client.close()
    second.wait_until(
        lambda: "shop" in next(n for n in cluster(second)["nodes"] if n["id"] == "n2")["errors"],
        "report the refused package",
    )
    assert second.get("/shop/version").json() == {"version": "2.0.0"}
    error = next(n for n in cluster(second)["nodes"] if n["id"] == "n2")["errors"]["shop"]
    assert "registry's package is shop" in error


def test_the_cluster_api_needs_the_admin_token(fleet) -> None:
    running = fleet(1).start()
    node = running.nodes[0]
    assert node.get("/_gingee/api/cluster", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert node.get("/_gingee/api/cluster", headers={"Origin": "https://evil.example"}).status_code == 403


SIGN = """from gingee_kernel import auth

async def handle(g):
    g.response.send({"token": auth.jwt.create({"sub": g.request.query["user"]})})
"""
CHECK = """from gingee_kernel import auth

async def handle(g):
    claims = auth.jwt.verify(g.request.headers.get("X-Token", ""))
    g.response.send({"sub": claims and claims["sub"]})
"""


def test_a_token_signed_on_one_node_is_good_on_every_node(fleet) -> None:
    running = fleet(2, extra={"jwt": {"secret": "fleet-shared-secret-" + "x" * 32}})
    for node in running.nodes:
        box = node.project / "web/shop/box"
        (box / "sign.py").write_text(SIGN)
        (box / "check.py").write_text(CHECK)
    running.start()
    first, second = running.nodes
    signed = first.get("/shop/sign", params={"user": "ada"})
    assert signed.status_code == 200, (signed.text, first.log()[-2000:])
    token = signed.json()["token"]
    assert second.get("/shop/check", headers={"X-Token": token}).json() == {"sub": "ada"}
    assert second.get("/shop/check", headers={"X-Token": token[:-2] + "xx"}).json() == {"sub": None}


def test_packages_can_live_in_an_s3_bucket(fleet, moto_s3) -> None:
    import uuid

    import redis

    from tests.fixtures.moto import CREDENTIALS, REGION, s3_client

    bucket = f"fleet-{uuid.uuid4().hex[:8]}"
    s3 = s3_client(moto_s3)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    store = {"bucket": bucket, "prefix": "pk/", "region": REGION, "endpoint_url": moto_s3, "path_style": True,
             "access_key_id": CREDENTIALS["aws_access_key_id"],
             "secret_access_key": CREDENTIALS["aws_secret_access_key"]}  # fmt: skip
    running = fleet(2, cluster={"packages": {"driver": "s3", "s3": store}}).start()
    deploy(running.app_folder("2.0.0"), running.nodes[0].url(), token=TOKEN)
    running.wait_for_versions(["2.0.0", "2.0.0"], "serve 2.0.0 from the bucket's package")
    content = cluster(running.nodes[1])["apps"]["shop"]["hash"]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"pk/_fleet/{running.name}/{content}.gin"]
    client = redis.Redis.from_url(running.redis_url)
    assert list(client.scan_iter(match=f"gingee:fleet:{{{running.name}}}:pkg:*")) == []  # none in Redis
    client.close()
