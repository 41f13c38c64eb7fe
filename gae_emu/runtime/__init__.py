"""The HTTP side: routing through app.yaml handlers, login checks, static files, the request environ
App Engine sets, the werkzeug server and delivery of tasks through the router. Only this package maps
domain errors to HTTP status codes."""
