# A notebook with a members' page: anyone sees who they are, only a logged-in user sees the page.
# %%
import os

import gingee_kernel as gk
from gingee_kernel.modules import auth

os.environ.setdefault("CLUB_CLIENT_ID", "club-client")
os.environ.setdefault("CLUB_CLIENT_SECRET", "club-secret-of-some-length")

# %%
app = gk.App("club")
app.use(
    "auth",
    providers={
        "company": {
            "type": "oidc",
            "discovery_url": "https://idp.example/.well-known/openid-configuration",
            "client_id": "env:CLUB_CLIENT_ID",
            "client_secret": "env:CLUB_CLIENT_SECRET",
        }
    },
)


# %%
@app.route("/whoami")
def whoami(g):
    return {"email": g.user.email if g.user else None}


@app.route("/members", login=True)
def members(g):
    return {"welcome": g.user.name or g.user.email}


@app.route("/settings")
def settings(g):
    user = auth.require_login(g)
    return {"settings for": user.id}
