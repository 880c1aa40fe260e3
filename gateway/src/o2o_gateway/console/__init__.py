"""The store console at /console and the API docs page at /docs: plain pages served by the
gateway, whose script is a client of the same public REST API partner apps use (the staff
member's bearer token, nothing else). Every asset comes from the platform itself: the
console's own script and style, and vendored, pinned copies of Chart.js and Swagger UI."""
