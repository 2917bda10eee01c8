"""Flask entry point for `flask --app app.py ...` and `python app.py`.

gunicorn imports the package instead: gunicorn "app:create_app()".
"""
from app import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
