"""app.yaml and queue.yaml: load, validate (errors carry file:line:col and key path), frozen models."""
