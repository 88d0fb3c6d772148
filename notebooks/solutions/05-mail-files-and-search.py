"""Solutions to the exercises of notebooks/05-mail-files-and-search.ipynb, one block per exercise."""


# %% exercise: invite
@app.route("/invite", methods=["POST"])
async def invite(g):
    email = (g.request.body or {}).get("email", "")
    try:
        result = await mail.send(
            to=email,
            subject="Come and join the garden club",
            text="A member of the garden club invites you: there is a plot for you too.",
        )
    except mail.InvalidMessage as error:
        raise HttpError(422, "INVALID_EMAIL", str(error)) from None
    return {"invited": result.recipients}


# %% exercise: search-route
@app.route("/search")
async def find(g):
    found = await search.query("todos", g.request.query.get("q", ""))
    hits = [{"id": hit.id, "title": hit.fields["title"], "match": hit.highlights} for hit in found.hits]
    return {"total": found.total, "hits": hits}
