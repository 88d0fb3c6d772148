"""GET /hello/hello -> {"message": "Hello, world!"}: the route the benchmark loads."""


async def handle(g):
    g.response.send({"message": "Hello, world!"})
