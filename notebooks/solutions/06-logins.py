"""Solutions to the exercises of notebooks/06-logins.ipynb, one block per exercise."""


# %% exercise: me
@app.route("/me", login=True)
async def profile(g):
    return {"email": g.user.email}
