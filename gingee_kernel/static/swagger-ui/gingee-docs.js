// Starts Swagger UI on the OpenAPI document the page carries inline (gingee_kernel/engine/apidocs.py).
(function () {
  "use strict";
  function xsrfToken() {
    // Readable only on a page Jupyter trusts (sandboxed pages have no cookies); JupyterHub wants it.
    try {
      var match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
      return match ? decodeURIComponent(match[1]) : null;
    } catch (error) {
      return null;
    }
  }
  var spec = JSON.parse(document.getElementById("gingee-openapi").textContent);
  window.ui = SwaggerUIBundle({
    spec: spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    requestInterceptor: function (request) {
      var token = xsrfToken();
      if (token) request.headers["X-XSRFToken"] = token;
      return request;
    },
  });
})();
