"""S3 presigned URLs, checked by recomputing their SigV4 signature with botocore from the URL's own parts.

moto's server checks neither presigned signatures nor expiry (a tampered and an expired URL both get 200
there), so a URL that works against moto proves little: these tests rebuild the canonical request from
what a client would send (method, path, query, signed headers) and compare signatures, which fails if the
key, method, expiry, content type or credentials in the URL are not what the app asked for.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gingee_kernel import storage
from gingee_kernel.engine.context import app_context
from tests.fixtures.apps import MakeApp
from tests.fixtures.moto import CREDENTIALS, REGION, s3_client

KEY_ID = CREDENTIALS["aws_access_key_id"]
SECRET = CREDENTIALS["aws_secret_access_key"]


@pytest.fixture
def app(make_app: MakeApp, moto_s3: str) -> Any:
    bucket = f"gingee-{uuid.uuid4().hex[:12]}"
    s3_client(moto_s3).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3 = {"bucket": bucket, "region": REGION, "endpoint_url": moto_s3, "path_style": True,
          "access_key_id": KEY_ID, "secret_access_key": SECRET}  # fmt: skip
    return make_app(
        "shop",
        config={"storage": [{"name": "files", "driver": "s3", "s3": s3}]},
        server={"egress": {"allow_cidrs": ["127.0.0.1/32"]}},
        grants={"storage"},
    )


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def expected_signature(
    url: str, method: str, headers: dict[str, str] | None = None, secret: str = SECRET, region: str = REGION
) -> str:
    """The SigV4 signature of the request a client makes with `url`, computed by botocore from scratch."""
    parts = urlsplit(url)
    query = query_of(url)
    query.pop("X-Amz-Signature")
    unsigned = urlunsplit(parts._replace(query=urlencode(query)))
    request = AWSRequest(method=method, url=unsigned, headers={"host": parts.netloc, **(headers or {})})
    request.context["timestamp"] = query["X-Amz-Date"]
    signer = S3SigV4QueryAuth(Credentials(KEY_ID, secret), "s3", region, expires=int(query["X-Amz-Expires"]))
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


async def test_a_presigned_get_is_signed_for_the_namespaced_key_method_and_expiry(app: Any) -> None:
    with app_context(app):
        files = storage.store("files")
        await files.put("reports/q3.csv", "a,b\n1,2\n", content_type="text/csv")
        url = await files.url("reports/q3.csv", expires=120)
    query = query_of(url)
    assert urlsplit(url).path.endswith("/shop/files/reports/q3.csv")  # the app's namespace, not the raw key
    assert query["X-Amz-Expires"] == "120"
    assert query["X-Amz-Credential"].split("/")[2:] == [REGION, "s3", "aws4_request"]
    signed_at = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    assert abs((datetime.datetime.now(datetime.UTC) - signed_at).total_seconds()) < 300
    assert query["X-Amz-Signature"] == expected_signature(url, "GET")
    async with httpx.AsyncClient() as client:
        answer = await client.get(url)
    assert answer.status_code == 200 and answer.content == b"a,b\n1,2\n"


async def test_the_signature_check_catches_tampering(app: Any) -> None:
    # The verifier must fail on every change a holder of the URL could try, or the test above proves nothing.
    with app_context(app):
        url = await storage.store("files").url("reports/q3.csv", expires=60)
    signature = query_of(url)["X-Amz-Signature"]
    other_key = url.replace("/reports/q3.csv", "/reports/q4.csv")
    longer = url.replace("X-Amz-Expires=60", "X-Amz-Expires=86400")
    other_app = url.replace("/shop/files/", "/admin/files/")
    assert signature == expected_signature(url, "GET")
    for changed in (other_key, longer, other_app):
        assert changed != url and expected_signature(changed, "GET") != signature
    assert expected_signature(url, "PUT") != signature
    assert expected_signature(url, "GET", secret="not-the-secret") != signature
    assert expected_signature(url, "GET", region="us-east-1") != signature


async def test_a_presigned_put_binds_its_content_type_and_uploads(app: Any) -> None:
    with app_context(app):
        files = storage.store("files")
        url = await files.url("avatars/ada.png", method="PUT", expires=300, content_type="image/png")
        signed = query_of(url)["X-Amz-SignedHeaders"].split(";")
        assert "content-type" in signed
        signature = query_of(url)["X-Amz-Signature"]
        assert signature == expected_signature(url, "PUT", {"content-type": "image/png"})
        assert signature != expected_signature(url, "PUT", {"content-type": "text/html"})
        assert signature != expected_signature(url, "GET", {"content-type": "image/png"})
        async with httpx.AsyncClient() as client:
            answer = await client.put(url, content=b"\x89PNG...", headers={"Content-Type": "image/png"})
        assert answer.status_code == 200, answer.text
        assert await files.get("avatars/ada.png") == b"\x89PNG..."
        assert (await files.stat("avatars/ada.png")).content_type == "image/png"


async def test_url_refuses_bad_arguments_before_signing(app: Any) -> None:
    with app_context(app):
        files = storage.store("files")
        with pytest.raises(ValueError, match="method must be 'GET' or 'PUT'"):
            await files.url("a.txt", method="DELETE")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="expires must be whole seconds"):
            await files.url("a.txt", expires=0)
        with pytest.raises(storage.InvalidKey):
            await files.url("../other-app/secret.txt")
