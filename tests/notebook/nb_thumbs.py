# A notebook that makes thumbnails and QR codes: a gated content module (image) and an ungated one (qrcode).
# %%
import gingee_kernel as gk
from gingee_kernel import image, qrcode

# %%
app = gk.App("thumbs")
app.use("image", max_pixels=1_000_000)


# %%
@app.route("/thumb", methods="POST")
async def thumb(g):
    return await image.load(g.request.raw_body).resize(width=40).format("png").to_bytes()


@app.route("/qr/:text")
async def qr(g):
    return await qrcode.qrcode(g.request.params["text"], format="svg")
