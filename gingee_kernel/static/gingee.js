/* gingee.js: URLs, requests and websockets for a Gingee app page, under any base URL.
 *
 *   <script src="../static/gingee.js"></script>        (from {base_url}gingee/<app>/page.html)
 *   gingee.url("api/items")        -> "{base_url}gingee/<app>/api/items"
 *   gingee.fetch("api/items", {method: "POST", body: ...})   adds X-XSRFToken when the _xsrf cookie is readable
 *   gingee.websocket("ws/chat")    -> a WebSocket on ws(s)://<host>{base_url}gingee/<app>/ws/chat
 *
 * The app's base is found from this script's own URL ({base_url}gingee/static/gingee.js), so it is right
 * behind Binder's /user/<name>/ prefix. Pages of sandboxed apps run in an opaque origin: they cannot read
 * cookies, and their requests carry no Jupyter credentials (see docs/jupyter.md).
 */
(function (root) {
  "use strict";

  var script = document.currentScript;
  var SUFFIX = "gingee/static/gingee.js";

  function gingeeRoot() {
    // "{base_url}gingee/" from this script's URL, else from the page's location.
    if (script && script.src) {
      var src = new URL(script.src, location.href);
      var at = src.pathname.lastIndexOf(SUFFIX);
      if (at >= 0) {
        return src.pathname.slice(0, at) + "gingee/";
      }
    }
    var match = location.pathname.match(/^(.*\/gingee\/)[^\/]+(\/|$)/);
    return match ? match[1] : "/gingee/";
  }

  var prefix = gingeeRoot();
  var rest = location.pathname.indexOf(prefix) === 0 ? location.pathname.slice(prefix.length) : "";
  var app = (script && script.dataset && script.dataset.app) || rest.split("/")[0] || "";
  var base = prefix + (app ? app + "/" : "");

  function url(path) {
    path = path == null ? "" : String(path);
    if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
      return path; // already absolute
    }
    return base + path.replace(/^\/+/, "");
  }

  function cookie(name) {
    try {
      var parts = document.cookie ? document.cookie.split("; ") : [];
      for (var i = 0; i < parts.length; i++) {
        var eq = parts[i].indexOf("=");
        if (parts[i].slice(0, eq) === name) {
          return decodeURIComponent(parts[i].slice(eq + 1));
        }
      }
    } catch (e) {
      // A sandboxed page has an opaque origin: document.cookie throws, and there is nothing to send.
    }
    return null;
  }

  function fetchApp(path, opts) {
    opts = Object.assign({}, opts || {});
    var headers = new Headers(opts.headers || {});
    var xsrf = cookie("_xsrf");
    if (xsrf && !headers.has("X-XSRFToken")) {
      headers.set("X-XSRFToken", xsrf); // JupyterHub >= 4.1 wants it on GET too
    }
    opts.headers = headers;
    if (!opts.credentials) {
      opts.credentials = "same-origin";
    }
    return root.fetch(url(path), opts);
  }

  function websocket(path, protocols) {
    var target = new URL(url(path), location.href);
    target.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    return new WebSocket(target.href, protocols);
  }

  root.gingee = { app: app, base: base, root: prefix, url: url, fetch: fetchApp, websocket: websocket };
})(window);
