"""Startup script: create the todo table once, when the app loads."""

from gingee_kernel import db


async def handle(g):
    await db.execute(
        "main",
        "create table if not exists todo ("
        " id integer primary key autoincrement,"
        " title text not null,"
        " done integer not null default 0)",
    )
