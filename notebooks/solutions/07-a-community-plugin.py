# Solutions to the exercises of notebooks/07-a-community-plugin.ipynb, one block per exercise cell.

# %% exercise: greet
@app.route("/greet/:name")
def greet(g):
    return {"message": plugins.hello.greet(g.request.params["name"])}


# %% exercise: greeting
app.use_plugin("gingee-hello", ">=1,<2", greeting="Hej")
