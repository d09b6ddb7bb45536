//! Schema and migrations (stub).
