// /docs: Swagger UI over the gateway's own OpenAPI document, from the platform's vendored copy.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#docs", validatorUrl: null, deepLinking: true });
});
