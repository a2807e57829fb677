"""WSGI entry point: ``app`` for any WSGI server (``waitress-serve wsgi:app``, ``flask --app
wsgi ...``); ``python wsgi.py`` serves it with waitress in DICOM_PROCESSES processes
(app/server.py)."""
from app.server import load_app, main

app = load_app(serving=__name__ == "__main__")

if __name__ == "__main__":
    main(app)
