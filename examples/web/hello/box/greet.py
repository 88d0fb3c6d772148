"""ANY /hello/greet?name=Ada: file routing runs this script for every method."""


async def handle(g):
    name = g.request.query.get("name") or (g.request.body or {}).get("name") or "world"
    g.response.send({"message": f"{g.app.env['greeting']}, {name}!", "method": g.request.method})
