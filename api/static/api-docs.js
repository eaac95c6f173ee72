// /api/docs: Swagger UI (PyPI swagger-ui-bundle, served by kg) over /api/openapi.json.
// A file rather than an inline script (CSP default-src 'self'); no validator badge (remote).
"use strict";

window.addEventListener("DOMContentLoaded", function () {
  const root = document.getElementById("swagger-ui");
  window.kgSwagger = SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
  });
});
