"""Websockets of isolated apps: the socket API's own tests, run again with every app in a worker process.

The master keeps the sockets, rooms and limits; the auth hook, the handler and its callbacks run in the
app's worker (isolation/sockets_master.py, sockets_worker.py). Each test below is the in-process test
of the same name (tests/modules/ws/), against the same apps, served with gingee.json `isolation`."""

from __future__ import annotations

import json
import os

import pytest

from tests.modules.ws import test_sockets, test_tenants
from tests.modules.ws.conftest import chat_files, recv, refused, ws_url

ISOLATED = {"isolation": {"mode": "process"}}

# The socket tests that do not depend on running in the server's process.
from tests.modules.ws.test_sockets import (  # noqa: E402
    test_app_reload_closes_its_sockets_with_1001,
    test_callback_error_closes_with_1011,
    test_callbacks_run_in_the_app_context,
    test_handler_error_closes_with_1011,
    test_idle_connection_closes_with_1001,
    test_oversized_message_closes_with_1009,
    test_plain_def_handler_runs_in_the_script_pool,
    test_room_broadcast_skips_the_sender_and_other_rooms,
    test_room_size_and_connection_count_from_a_callback,
    test_send_json_text_and_binary,
    test_to_room_and_to_app_from_an_http_script,
)
from tests.modules.ws.test_tenants import (  # noqa: E402
    test_a_socket_without_tenant_cannot_use_tenant_rooms,
    test_a_tenant_joins_only_its_own_rooms,
    test_broadcasts_stay_inside_the_tenant,
)

__all__ = [
    "test_a_socket_without_tenant_cannot_use_tenant_rooms",
    "test_a_tenant_joins_only_its_own_rooms",
    "test_app_reload_closes_its_sockets_with_1001",
    "test_broadcasts_stay_inside_the_tenant",
    "test_callback_error_closes_with_1011",
    "test_callbacks_run_in_the_app_context",
    "test_handler_error_closes_with_1011",
    "test_idle_connection_closes_with_1001",
    "test_oversized_message_closes_with_1009",
    "test_plain_def_handler_runs_in_the_script_pool",
    "test_room_broadcast_skips_the_sender_and_other_rooms",
    "test_room_size_and_connection_count_from_a_callback",
    "test_send_json_text_and_binary",
    "test_to_room_and_to_app_from_an_http_script",
]


@pytest.fixture
def server(request, make_project, serve):
    """The project of the in-process test module the test comes from, with every app isolated."""
    module = test_tenants if request.function.__module__ == test_tenants.__name__ else test_sockets
    return serve(make_project({"gingee.json": ISOLATED, **module.project_files()}))


PID_HANDLER = """
import os

async def handle(socket, ctx):
    socket.send({"pid": os.getpid()})
"""


async def test_the_handler_runs_in_the_worker_process(make_project, serve, ws):
    files = {
        "gingee.json": ISOLATED,
        "web/p/box/app.json": {"name": "p", "websockets": {"handler": "ws.py"}},
        "web/p/box/pmft.json": {"permissions": {"mandatory": ["websockets"]}},
        "web/p/box/ws.py": PID_HANDLER,
    }
    server = serve(make_project(files))
    conn = await ws(ws_url(server, "/p/ws"))
    assert (await recv(conn))["pid"] != os.getpid()


async def test_the_auth_hook_runs_in_the_worker_and_can_refuse(make_project, serve, ws):
    server = serve(make_project({"gingee.json": ISOLATED, **chat_files("chat")}))
    status, body, _ = await refused(ws_url(server, "/chat/ws?token=banned"))
    assert (status, body["reason"]) == (403, "banned here")
    status, _, _ = await refused(ws_url(server, "/chat/ws?token=boom"))
    assert status == 401
    conn = await ws(ws_url(server, "/chat/ws?token=acme"))
    hello = await recv(conn)
    assert hello["meta"] == {"user": "u-acme", "tenant": "acme"} and hello["tenant"] == "acme"
    conn.write_message(json.dumps({"op": "echo", "data": "hi"}))
    assert await recv(conn) == "hi"
