"""Outbound HTTP policy for the `httpclient` module: which URLs and addresses an app may reach.

The policy is `gingee.json`'s `egress` section. In "protected" mode (the default) a request may not reach
loopback, private, shared (CGNAT), link-local, cloud-metadata, multicast, unspecified or reserved
addresses, nor well-known metadata host names, nor use a URL with credentials in it.

- `policy`: the `egress` section parsed and validated, and its host-name patterns.
- `addresses`: which addresses protected mode blocks, and DNS resolution.
- `checks`: a request's URL and resolved addresses judged against the policy (`vet`).
- `transport`: the httpx transport that connects only to the address `vet` checked.
"""

from .addresses import METADATA_HOSTS, blocked_reason, resolve
from .checks import EgressDenied, Target, check_address, check_url, redact_url, vet, vet_app_endpoint
from .policy import EgressPolicy, host_matches
from .transport import EgressTransport

__all__ = [
    "METADATA_HOSTS",
    "EgressDenied",
    "EgressPolicy",
    "EgressTransport",
    "Target",
    "blocked_reason",
    "check_address",
    "check_url",
    "host_matches",
    "redact_url",
    "resolve",
    "vet",
    "vet_app_endpoint",
]
