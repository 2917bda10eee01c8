"""The wire format: the field types of every payload clients send and of the answers
the API documents. Pure: flask-restx fields only, so every layer may import it."""
