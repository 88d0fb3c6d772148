"""Amazon SES v2 (`SendEmail` with raw MIME content) through boto3 (extra `ses`), called on a worker thread
so the event loop never waits on it. The raw form carries attachments, custom headers and Bcc as-is."""

from __future__ import annotations

import asyncio
from typing import Any

from .base import MailDriver
from .errors import MailAuthError, MailError, MailUnavailable, MessageRejected, RateLimited
from .message import Mail

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("the ses mail driver needs boto3: pip install 'gingee[ses]'") from exc

_AUTH = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AccessDeniedException",
    "AccessDenied",
    "ExpiredTokenException",
}
_RATE = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
_DOWN = {"ServiceUnavailable", "InternalFailure", "InternalServerError"}


class SesDriver(MailDriver):
    """One boto3 `sesv2` client per app (boto3 clients are safe to share between threads)."""

    name = "ses"

    def __init__(self, section: dict[str, Any], timeout: float) -> None:
        self.region = section.get("region", "us-east-1")
        self.configuration_set = section.get("configuration_set")
        self.client = boto3.session.Session().client(
            "sesv2",
            region_name=self.region,
            endpoint_url=section.get("endpoint_url"),
            aws_access_key_id=section.get("access_key_id"),
            aws_secret_access_key=section.get("secret_access_key"),
            aws_session_token=section.get("session_token"),
            config=Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 1, "mode": "standard"},  # retries are the queue's job
            ),
        )

    async def send(self, mail: Mail, timeout: float) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": str(mail.sender),
            "Destination": {
                "ToAddresses": [a.addr_spec for a in mail.to],
                "CcAddresses": [a.addr_spec for a in mail.cc],
                "BccAddresses": [a.addr_spec for a in mail.bcc],
            },
            "Content": {"Raw": {"Data": mail.mime().as_bytes()}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            answer = await asyncio.wait_for(asyncio.to_thread(self.client.send_email, **request), timeout)
        except (TimeoutError, asyncio.TimeoutError, ConnectTimeoutError, ReadTimeoutError) as exc:
            raise MailUnavailable(
                f"mail (ses): Amazon SES ({self.region}) did not answer within {timeout:g} s; the message "
                "may or may not have been accepted",
                driver=self.name,
            ) from exc
        except ClientError as exc:
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise MailUnavailable(
                f"mail (ses): could not reach Amazon SES ({self.region}): {exc}; nothing was sent",
                driver=self.name,
            ) from exc
        return str(answer["MessageId"])

    def _error(self, exc: ClientError) -> MailError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        reason = f"{code}: {error.get('Message', '')}"
        text = f"mail (ses): Amazon SES refused the message: {reason}; nothing was sent"
        if code in _AUTH or status == 403:
            return MailAuthError(
                f"{text}. Check mail.ses.access_key_id / secret_access_key and the ses:SendEmail permission",
                driver=self.name,
            )
        if code in _RATE or status == 429:
            return RateLimited(f"{text}. SES asked to slow down", driver=self.name)
        if code in _DOWN or status >= 500:
            return MailUnavailable(text, driver=self.name)
        return MessageRejected(
            f"{text}. A sender must be a verified SES identity (and, in the sandbox, every recipient too)",
            driver=self.name,
        )

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)
