"""A fleet: many `gingee serve` hosts that serve the same apps, kept in step through a registry in Redis.

`settings.py` reads gingee.json `cluster`; `registry.py` is the registry (entries, heartbeats);
`packages.py` keeps the packages (Redis or S3); `node.py` is one node's membership (publishing its
changes, following everyone else's); `http.py` is `GET /_gingee/api/cluster`; `cli.py` is
`gingee cluster status|publish` and the announcement of the lifecycle commands' changes.
"""
