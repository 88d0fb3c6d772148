"""Social login through Jupyter: a real Jupyter server (base_url /user/ada/) with the gingee extension, the
practice OpenID provider on its own thread (`start_in_thread`), and logins that must use the URL the
browser sees, for an on-disk app (`GingeeHandler.public_root`) and for a kernel's live app
(`secret_port.kernel_public_root`). The provider knows only the browser-visible callback URLs, so a
redirect URI built from any other URL (the kernel's own 127.0.0.1:<port>) fails the login.

Then Debian's chromium logs in to the live app under Jupyter's sandbox CSP, and to the same app exported
and served by `gingee serve`, and reports what its session cookie does for navigations and `fetch()`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gingee_server  # noqa: F401  (installed with the project: a missing extension fails, never skips)
import httpx
import nbformat
import pytest
from nbclient import NotebookClient

from gingee_kernel.practice import OidcProvider
from tests.auth.flow import CLIENT_ID, CLIENT_SECRET, ENV, PRIVATE, WHOAMI, oidc_entry, query
from tests.fixtures.chromium import CHROMIUM, launch
from tests.fixtures.jupyter import JupyterServer, start_jupyter
from tests.fixtures.servers import RunningServer, write_files

BASE_URL = "/user/ada/"
HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
#: gingee.json: the apps may reach the loopback provider (egress denies private addresses by default).
EGRESS = {"egress": {"allow_cidrs": ["127.0.0.0/8"]}}

# The live app's pages. `/page` shows who is logged in, then probes from inside the page what its
# session cookie does for script: `document.cookie`, and `fetch("whoami")` with each credentials mode.
INDEX = '<!doctype html><title>Members</title><a id="members" href="page">Members only</a>'
PAGE = """<!doctype html><title>Members</title><p id="email">{email}</p><pre id="probe">running</pre>
<script>
(async () => {
  const out = ["origin:" + self.origin];
  try { out.push("cookie:" + (document.cookie.includes("gingee_session") ? "read" : "none")); }
  catch (e) { out.push("cookie:blocked"); }
  for (const mode of ["same-origin", "include"]) {
    try {
      const reply = await fetch("whoami", {credentials: mode});
      out.push(mode + ":" + reply.status + ":" + JSON.stringify((await reply.json()).email));
    } catch (e) { out.push(mode + ":blocked"); }
  }
  document.getElementById("probe").textContent = out.join(" ");
})();
</script>"""


def kernel_cells(discovery_url: str) -> list[str]:
    """A notebook: app `livelogin` (public) and `livestaff` (behind Jupyter's login), each with auth, an
    open index, a `login=True` page and a `whoami`; both served live."""
    providers = {"local": oidc_entry(discovery_url)}
    routes = (
        "@{a}.route('/')\ndef index_{a}(g):\n"
        "    g.response.send(INDEX, content_type='text/html; charset=utf-8')\n\n"
        "@{a}.route('/page', login=True)\ndef page_{a}(g):\n"
        "    g.response.send(PAGE.replace('{{email}}', html.escape(g.user.email)), "
        "content_type='text/html; charset=utf-8')\n\n"
        "@{a}.route('/whoami')\ndef whoami_{a}(g):\n"
        "    return {{'email': g.user.email if g.user else None}}\n"
    )
    return [
        "import html\nimport gingee_kernel as gk\n"
        f"INDEX = {INDEX!r}\nPAGE = {PAGE!r}\nPROVIDERS = {providers!r}",
        "live = gk.App('livelogin', public=True)\nlive.use('auth', providers=PROVIDERS)\n"
        "staff = gk.App('livestaff')\nstaff.use('auth', providers=PROVIDERS)",
        routes.format(a="live"),
        routes.format(a="staff"),
        "print(live.serve())\nprint(staff.serve())\nprint('kernel port', live.serving.port)",
    ]


def disk_app(name: str, discovery_url: str, *, public: bool) -> dict[str, Any]:
    """On-disk app `name` logging in with provider "local": `/whoami` (anyone), `/private` (login)."""
    return {
        f"web/{name}/box/app.json": {
            "name": name,
            **({"public": True} if public else {}),
            "auth": {"providers": {"local": oidc_entry(discovery_url)}},
        },
        f"web/{name}/box/routes.json": {
            "routes": [
                {"path": "/whoami", "script": "whoami.py"},
                {"path": "/private", "script": "private.py", "login": True},
            ]
        },
        f"web/{name}/box/whoami.py": WHOAMI,
        f"web/{name}/box/private.py": PRIVATE,
    }


def set_cookies(response: httpx.Response) -> dict[str, Any]:
    """The response's Set-Cookie lines by cookie name, as parsed morsels."""
    found: dict[str, Any] = {}
    for line in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(line)
        found.update(jar.items())
    return found


def callback(server: JupyterServer, app: str) -> str:
    """The callback URL of `app`'s provider "local", as the browser sees it."""
    return f"http://127.0.0.1:{server.port}{BASE_URL}gingee/{app}/_auth/callback/local"


def allow_redirects(provider: OidcProvider, *uris: str) -> None:
    """Let the test client come back to `uris` (exact matches: no "*")."""
    client = provider.server.clients.get(CLIENT_ID)
    if client is None:
        provider.add_client(CLIENT_ID, CLIENT_SECRET, list(uris))
    else:
        client.redirect_uris.extend(uris)


def outputs(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") + json.dumps(o.get("data", {})) for o in cell.get("outputs", []))


@contextmanager
def provider_env() -> Iterator[None]:
    """The client id and secret in the environment (app.json names them `env:OIDC_ID`, `env:OIDC_SECRET`)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in ENV.items():
            env.setenv(name, value)
        yield


# --- fixtures: one provider, one Jupyter server and one kernel for the module ----------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    practice = OidcProvider().start_in_thread()
    yield practice
    practice.stop_in_thread()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider) -> Iterator[JupyterServer]:
    """Jupyter at /user/ada/ over a project with on-disk apps `club` (public) and `staff` (not)."""
    files = {
        "gingee.json": EGRESS,
        **disk_app("club", provider.discovery_url, public=True),
        **disk_app("staff", provider.discovery_url, public=False),
    }
    root = write_files(tmp_path_factory.mktemp("project"), files)
    with provider_env():  # the server and its kernels resolve env:OIDC_ID / env:OIDC_SECRET
        server = start_jupyter(root, tmp_path_factory.mktemp("jupyter-home"), BASE_URL)
        try:
            allow_redirects(
                provider, *(callback(server, a) for a in ("club", "staff", "livelogin", "livestaff"))
            )
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def kernel(
    hub: JupyterServer, provider: OidcProvider
) -> Iterator[tuple[NotebookClient, nbformat.NotebookNode]]:
    """A kernel (as the server would start it) that has run `kernel_cells` and serves both live apps."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(src) for src in kernel_cells(provider.discovery_url)]
    )
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(hub.root)}}
    )
    with client.setup_kernel(env=hub.kernel_env(), cwd=str(hub.root)):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        yield client, nb


def run(client: NotebookClient, nb: nbformat.NotebookNode, source: str) -> str:
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    return outputs(cell)


def login(
    http: httpx.Client,
    server: JupyterServer,
    provider: OidcProvider,
    app: str,
    next_path: str,
    headers: dict[str, str] | None = None,
) -> dict[str, httpx.Response]:
    """The whole login, hop by hop: `start` (our redirect to the provider), `back` (the provider's redirect
    to the callback) and `done` (the callback's answer). `headers` go to Jupyter only, never the provider."""
    extra = headers or {}
    start = http.get(
        server.url(f"gingee/{app}/_auth/login/local"), params={"next": next_path}, headers={**HTML, **extra}
    )
    assert start.status_code == 302, start.text
    assert start.headers["location"].startswith(provider.base_url + "/authorize?")
    back = http.get(start.headers["location"])
    assert back.status_code == 302, back.text  # the provider accepted the redirect_uri (exact match)
    done = http.get(back.headers["location"], headers={**HTML, **extra})
    return {"start": start, "back": back, "done": done}


# --- 1a: on-disk apps -----------------------------------------------------------------------------------


def test_a_public_on_disk_app_logs_in_with_the_browser_visible_urls(
    hub: JupyterServer, provider: OidcProvider
) -> None:
    app_url = hub.url("gingee/club")
    assert app_url == f"http://127.0.0.1:{hub.port}/user/ada/gingee/club"
    with httpx.Client(timeout=30, follow_redirects=False) as http:  # no Jupyter token anywhere
        # A login route sends a browser to log in, and answers an API client 401, from our gate.
        page = http.get(app_url + "/private?tab=2", headers=HTML)
        assert page.status_code == 302
        assert page.headers["location"] == app_url + "/_auth/login/local?" + urlencode(
            {"next": "/private?tab=2"}
        )
        api = http.get(app_url + "/private", headers=JSON)
        assert api.status_code == 401 and api.json()["error"] == "LOGIN_REQUIRED"
        assert api.json()["login"].startswith(app_url + "/_auth/login/local?")

        hops = login(http, hub, provider, "club", "/private?tab=2")
        asked = query(hops["start"].headers["location"])
        assert asked["redirect_uri"] == callback(hub, "club")
        assert asked["client_id"] == CLIENT_ID and asked["code_challenge_method"] == "S256"
        state = set_cookies(hops["start"])["gingee_session_login"]
        assert state["path"] == "/user/ada/gingee/club/_auth/" and state["httponly"]
        assert hops["back"].headers["location"].startswith(callback(hub, "club") + "?")
        done = hops["done"]
        assert done.status_code == 302, done.text
        assert done.headers["location"] == app_url + "/private?tab=2"
        cookies = set_cookies(done)
        session = cookies["gingee_session"]
        assert session["path"] == "/user/ada/gingee/club/"
        assert session["httponly"] and session["samesite"] == "Lax" and not session["secure"]
        assert cookies["gingee_session_login"]["max-age"] == "0"
        assert cookies["gingee_session_login"]["path"] == "/user/ada/gingee/club/_auth/"

        # The session works, and the script sees g.user (no Jupyter token: the app is public).
        private = http.get(app_url + "/private?tab=2", headers=HTML)
        assert private.status_code == 200 and private.json() == {"secret": "for ada@example.org"}
        user = http.get(app_url + "/whoami", headers=JSON).json()["user"]
        assert user["email"] == "ada@example.org" and user["id"] == "local:ada"
        assert user["claims"]["iss"] == provider.issuer
        me = http.get(app_url + "/_auth/me")
        assert me.status_code == 200 and me.json()["user"]["email"] == "ada@example.org"

        out = http.get(app_url + "/_auth/logout")
        assert out.status_code == 303 and out.headers["location"] == app_url + "/"
        assert set_cookies(out)["gingee_session"]["path"] == "/user/ada/gingee/club/"
        assert http.get(app_url + "/whoami", headers=JSON).json()["user"] is None


def test_a_non_public_on_disk_app_asks_for_jupyters_login_first(
    hub: JupyterServer, provider: OidcProvider
) -> None:
    app_url = hub.url("gingee/staff")
    jupyter_login = f"{BASE_URL}login?"
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        # Without Jupyter's token: Jupyter's refusal, never our login (not even our own _auth endpoints).
        for path in ("/private", "/_auth/login/local?next=/private", "/_auth/callback/local?code=x&state=y"):
            refused = http.get(app_url + path, headers=HTML)
            assert refused.status_code == 302, path
            location = refused.headers["location"]
            assert location.startswith(jupyter_login) and "_auth/login/local" not in location, location
            assert "gingee_session" not in refused.headers.get("set-cookie", "")
        api = http.get(app_url + "/private", headers=JSON)
        assert api.status_code == 302 and api.headers["location"].startswith(jupyter_login)
        post = http.post(app_url + "/_auth/logout", headers=JSON)
        assert post.status_code == 403 and "Jupyter's login" in post.json()["reason"]

        # With Jupyter's token: then our login, at the same browser-visible URLs.
        page = http.get(app_url + "/private", headers={**HTML, **hub.auth})
        assert page.status_code == 302
        assert page.headers["location"] == app_url + "/_auth/login/local?next=%2Fprivate"
        hops = login(http, hub, provider, "staff", "/private", headers=hub.auth)
        assert query(hops["start"].headers["location"])["redirect_uri"] == callback(hub, "staff")
        assert hops["done"].status_code == 302, hops["done"].text
        assert set_cookies(hops["done"])["gingee_session"]["path"] == "/user/ada/gingee/staff/"
        private = http.get(app_url + "/private", headers={**JSON, **hub.auth})
        assert private.status_code == 200 and private.json() == {"secret": "for ada@example.org"}
        # The session alone does not get past Jupyter.
        session = {"gingee_session": http.cookies.get("gingee_session", path="/user/ada/gingee/staff/")}
        without_token = httpx.get(app_url + "/private", headers=JSON, cookies=session)
        assert without_token.status_code == 302 and without_token.headers["location"].startswith(
            jupyter_login
        )


# --- 1b: a kernel's live app ----------------------------------------------------------------------------


def test_a_live_kernel_app_logs_in_with_the_browser_visible_urls(
    hub: JupyterServer, provider: OidcProvider, kernel: Any
) -> None:
    _, nb = kernel
    printed = outputs(nb.cells[-1])
    assert f"{BASE_URL}gingee/livelogin/" in printed
    found = re.search(r"kernel port (\d+)", printed)
    assert found, printed
    kernel_root = f"http://127.0.0.1:{found.group(1)}"  # where the kernel's own server listens
    app_url = hub.url("gingee/livelogin")
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        page = http.get(app_url + "/page", headers=HTML)
        assert page.status_code == 302
        assert page.headers["location"] == app_url + "/_auth/login/local?next=%2Fpage"
        api = http.get(app_url + "/page", headers=JSON)
        assert api.status_code == 401 and api.json()["login"].startswith(app_url + "/_auth/login/local?")

        hops = login(http, hub, provider, "livelogin", "/page")
        redirect_uri = query(hops["start"].headers["location"])["redirect_uri"]
        assert redirect_uri == callback(hub, "livelogin")  # the browser's URL, relayed to the kernel
        assert not redirect_uri.startswith(kernel_root)
        assert (
            set_cookies(hops["start"])["gingee_session_login"]["path"] == "/user/ada/gingee/livelogin/_auth/"
        )
        done = hops["done"]
        assert done.status_code == 302, done.text
        assert done.headers["location"] == app_url + "/page"
        session = set_cookies(done)["gingee_session"]
        assert session["path"] == "/user/ada/gingee/livelogin/" and session["httponly"]
        assert session["samesite"] == "Lax"

        shown = http.get(app_url + "/page", headers=HTML)
        assert shown.status_code == 200 and '<p id="email">ada@example.org</p>' in shown.text
        policies = shown.headers.get_list("content-security-policy")  # Jupyter's, and our sandbox
        assert any(p.startswith("sandbox ") for p in policies) and "allow-same-origin" not in str(policies)
        assert http.get(app_url + "/whoami", headers=JSON).json() == {"email": "ada@example.org"}
        assert http.get(app_url + "/_auth/me").json()["user"]["id"] == "local:ada"


# --- 2: Chromium --------------------------------------------------------------------------------------

#: Run after the export: `whoami` also records what reached the kernel (the browser cannot show the
#: headers of a fetch that CORS blocks), for both live apps.
RECORDER = """SEEN = []

def seen(g):
    cookie = g.request.headers.get('Cookie') or ''
    SEEN.append({'path': g.request.path, 'origin': g.request.headers.get('Origin'),
                 'session_cookie': 'gingee_session' in cookie, 'email': g.user.email if g.user else None})
    return {'email': g.user.email if g.user else None}

live.route('/whoami')(seen)
staff.route('/whoami')(seen)"""


def visit(context: Any, start: str) -> dict[str, Any]:
    """Open `start` (the app's index), click the link to the login page, log in on the way, and return the
    page it ends on, its probe and the requests for `page` and `whoami` as the network saw them."""
    requests: list[Any] = []
    page = context.new_page()
    page.on("request", lambda request: requests.append(request))
    page.goto(start)
    page.click("#members")  # a navigation from the (sandboxed) index page
    page.wait_for_selector("#email")
    page.wait_for_function("() => document.getElementById('probe').textContent !== 'running'")
    seen = []
    for request in requests:
        name = request.url.rsplit("/", 1)[-1]
        if name not in ("page", "whoami"):
            continue
        headers = request.all_headers()
        response = request.response()
        seen.append(
            {
                "name": name,
                "type": request.resource_type,
                "session_cookie": "gingee_session" in headers.get("cookie", ""),
                "jupyter_cookie": "username-" in headers.get("cookie", ""),
                "site": headers.get("sec-fetch-site"),
                "status": response.status if response else request.failure,
            }
        )
    result = {
        "url": page.url,
        "email": page.locator("#email").inner_text(),
        "probe": page.locator("#probe").inner_text().split(),
        "requests": seen,
    }
    page.close()
    return result


@pytest.mark.browser
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)
def test_chromium_logs_in_under_the_sandbox_and_on_gingee_serve(
    hub: JupyterServer, kernel: Any, provider: OidcProvider, tmp_path: Path
) -> None:
    """Under Jupyter's sandbox CSP, page navigations carry the session (link, login redirects, the page),
    but the page's own script gets nothing: no `document.cookie`, and `fetch()` from its opaque origin
    sends no session cookie (same-origin credentials: an anonymous answer; `include`: blocked by CORS).
    For an app behind Jupyter's login the fetch does not even reach the kernel. On `gingee serve` (no
    sandbox) the same page's fetches are same-origin and carry the session."""
    from playwright import sync_api as playwright

    client, nb = kernel
    served_root = write_files(tmp_path / "served", {"gingee.json": EGRESS})
    run(client, nb, f"live.export({str(served_root / 'web')!r})")
    assert (served_root / "web" / "livelogin" / "box" / "app.json").is_file()
    run(client, nb, RECORDER)
    with provider_env():
        served = RunningServer(served_root, dev=False).start()  # `gingee serve`, its own session key
    try:
        allow_redirects(provider, served.url("/livelogin/_auth/callback/local"))
        asked_before = len(provider.authorize_requests)
        with playwright.sync_playwright() as pw:
            browser = launch(pw)
            context = browser.new_context()
            public = visit(context, hub.url("gingee/livelogin/"))
            private = visit(context, hub.url(f"gingee/livestaff/?token={hub.token}"))
            serve = visit(context, served.url("/livelogin/"))
            jar = {(c["name"], c["path"]): c for c in context.cookies()}
            browser.close()
    finally:
        served.stop()
    recorded = json.loads(run(client, nb, "import json\nprint(json.dumps(SEEN))").splitlines()[0])

    # Each login went to the provider with the browser's own callback URL.
    asked = [r["redirect_uri"] for r in provider.authorize_requests[asked_before:]]
    assert asked == [
        callback(hub, "livelogin"),
        callback(hub, "livestaff"),
        served.url("/livelogin/_auth/callback/local"),
    ]
    for path in ("/user/ada/gingee/livelogin/", "/user/ada/gingee/livestaff/", "/livelogin/"):
        cookie = jar[("gingee_session", path)]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]

    # Jupyter, public live app: the navigations are cross-site (the index page has an opaque origin), and
    # the Lax session cookie still rides the top-level GET that comes back from the login.
    assert public["url"] == hub.url("gingee/livelogin/page") and public["email"] == "ada@example.org"
    pages = [r for r in public["requests"] if r["name"] == "page"]
    assert pages[0] == {
        **pages[0],
        "type": "document",
        "session_cookie": False,
        "site": "cross-site",
        "status": 302,
    }
    assert pages[-1] == {**pages[-1], "type": "document", "session_cookie": True, "status": 200}
    # ...but the page's script: no cookie jar, a same-origin fetch is anonymous, `include` is blocked.
    assert public["probe"] == ["origin:null", "cookie:blocked", "same-origin:200:null", "include:blocked"]
    fetches = [r for r in public["requests"] if r["name"] == "whoami"]
    assert [r["type"] for r in fetches] == ["fetch", "fetch"] and not any(
        r["session_cookie"] for r in fetches
    )
    reached = [r for r in recorded if r["path"] == "/livelogin/whoami"]
    # Both fetches were sent (`include` too: CORS blocks its answer, not the request), as cross-site
    # requests from origin "null", so the SameSite=Lax session cookie stayed in the browser.
    assert len(reached) == 2, recorded
    assert all(r["origin"] == "null" and not r["session_cookie"] for r in reached), recorded
    assert all(r["email"] is None for r in reached)

    # Jupyter, app behind Jupyter's login: navigations carry Jupyter's cookie and the session; the page's
    # fetches carry neither, so Jupyter refuses them before the kernel sees them.
    assert private["url"] == hub.url("gingee/livestaff/page") and private["email"] == "ada@example.org"
    last_page = [r for r in private["requests"] if r["name"] == "page"][-1]
    assert last_page["session_cookie"] and last_page["jupyter_cookie"] and last_page["status"] == 200
    assert private["probe"] == ["origin:null", "cookie:blocked", "same-origin:blocked", "include:blocked"]
    assert not [r for r in recorded if r["path"] == "/livestaff/whoami"], recorded

    # gingee serve (no sandbox): the same exported page, same-origin fetches that carry the session.
    assert serve["url"] == served.url("/livelogin/page") and serve["email"] == "ada@example.org"
    assert serve["probe"] == [
        f"origin:{served.url('/').rstrip('/')}",
        "cookie:none",  # HttpOnly
        'same-origin:200:"ada@example.org"',
        'include:200:"ada@example.org"',
    ]
    served_fetches = [r for r in serve["requests"] if r["name"] == "whoami"]
    assert len(served_fetches) == 2 and all(r["session_cookie"] for r in served_fetches)
