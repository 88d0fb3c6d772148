# A notebook API whose route declares its body and reply: app.openapi() documents both, bad bodies get 422.
# %%
import gingee_kernel as gk

# %%
app = gk.App("orders")
ORDER = {
    "type": "object",
    "required": ["sku", "qty"],
    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
}


# %%
@app.route("/orders", methods="POST", body=ORDER, response={"type": "object", "required": ["total"]})
async def place(g):
    return {"total": g.request.body["qty"] * 3}
