"""In the master: a worker's calls back to the modules whose state lives here (cache, queue, websockets).

A worker is trusted with nothing: the app it names must be one it runs, the app must hold the module's
grant here, a cache key must lie in that app's namespace, and every queue or websocket operation is done
as that app (its name comes from the check, never from the arguments).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..engine.app import AppRuntime
from ..engine.context import app_context
from ..errors import PermissionDenied
from ..metrics.series import record_permission_denied

#: The operations a worker may call, by module.
OPERATIONS = {
    "cache": frozenset({"get", "set", "delete", "incr", "clear_prefix"}),
    "queue": frozenset({"add", "info", "result", "stats", "dlq_list", "dlq_retry", "dlq_discard"}),
    "websockets": frozenset({"broadcast", "room_size", "connection_count"}),
}


class CallRefused(PermissionError):
    """A worker asked for something its apps may not do."""


async def serve_call(
    header: dict[str, Any],
    payload: bytes,
    members: frozenset[str],
    apps: Mapping[str, AppRuntime] | Callable[[str], Any],
) -> Any:
    """Run one call of a worker that runs the apps `members`; the JSON result. `payload` carries the
    call's large value (a cached value, a message to broadcast)."""
    name, module, op = header.get("app"), header.get("mod"), header.get("op")
    args = header.get("args") or {}
    if not isinstance(name, str) or name not in members:
        raise CallRefused(f"this worker does not run an app called {name!r}")
    if module not in OPERATIONS or op not in OPERATIONS[module] or not isinstance(args, dict):
        raise CallRefused(f"no operation {module}.{op} may be called from a worker")
    app = apps(name) if callable(apps) else apps.get(name)
    if app is None:
        raise CallRefused(f"app '{name}' is not loaded")
    if module not in app.grants:
        record_permission_denied(name, module)
        raise PermissionDenied(name, module)
    with app_context(app):
        if module == "cache":
            return await _cache(app, op, args, payload)
        if module == "queue":
            return await _queue(app, op, args)
        return await _websockets(app, op, args, payload)


async def _cache(app: AppRuntime, op: str, args: dict[str, Any], payload: bytes) -> Any:
    from ..modules import cache

    backend = cache._backend(app)
    space = cache._namespace(app)
    target = str(args.get("prefix" if op == "clear_prefix" else "key", ""))
    if not target.startswith(space):
        raise CallRefused(f"cache key {target!r} is outside app '{app.name}'s namespace")
    if op == "get":
        return await backend.get(target)
    if op == "set":
        await backend.set(target, payload.decode("utf-8"), args.get("ttl"))
        return None
    if op == "delete":
        return await backend.delete(target)
    if op == "incr":
        return await backend.incr(target, int(args["amount"]), args.get("ttl"))
    return await backend.clear_prefix(target)


async def _queue(app: AppRuntime, op: str, args: dict[str, Any]) -> Any:
    from ..jobqueue.service import service_for

    service = service_for(app)
    driver = service.driver
    if op == "add":
        handle = await service.add(
            app,
            str(args["name"]),
            args.get("payload"),
            delay=args.get("delay"),
            attempts=args.get("attempts"),
            backoff=args.get("backoff"),
            job_id=args.get("job_id"),
        )
        return {"id": handle.id, "name": handle.name, "created": handle.created}
    job_id = str(args.get("job_id", ""))
    if op == "info":
        info = await driver.info(app.name, job_id)
        return None if info is None else info.to_dict()
    if op == "result":
        return await driver.result(app.name, job_id, args.get("timeout"))
    if op == "stats":
        return await driver.stats(app.name)
    if op == "dlq_list":
        return await driver.dlq_list(app.name, int(args.get("limit", 100)))
    if op == "dlq_retry":
        return await driver.dlq_retry(app.name, job_id)
    return await driver.dlq_discard(app.name, job_id)


async def _websockets(app: AppRuntime, op: str, args: dict[str, Any], payload: bytes) -> Any:
    from ..modules.ws.hub import hub_for

    hub = hub_for(app.shared, app.server_config)
    room = args.get("room")
    if op == "broadcast":
        return hub.broadcast(
            app.name, room if isinstance(room, str) else None, payload, bool(args.get("binary"))
        )
    if op == "room_size":
        return hub.room_size(app.name, str(room))
    return hub.connection_count(app.name)
