"""The wire format: the payloads clients send, as the flask-restx models Swagger
shows, their field types, and the one check every entry point runs on them
(`checked_model.CheckedModel`: compiled when valid, every bad field named when not).

Pure: flask-restx and jsonschema only, so the API, ingestion and the CLI all import
it from below."""
