# A notebook that keeps uploads in object storage: a streamed upload route and a download route.
# %%
import gingee_kernel as gk
from gingee_kernel import storage

# %%
app = gk.App("files")
app.use("storage", name="uploads", driver="local")
app.use("limits", max_body_size="64kb")


# %%
@app.route("/up/:name", methods="PUT", body="stream")
async def upload(g):
    info = await storage.store("uploads").put(
        g.request.params["name"], g.request, content_type=g.request.headers.get("Content-Type")
    )
    return {"key": info.key, "size": info.size, "etag": info.etag}


@app.route("/down/:name")
async def download(g):
    await g.response.send_object("uploads", g.request.params["name"])
