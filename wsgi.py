"""WSGI entry point: ``app`` for any WSGI server; ``python wsgi.py`` serves it with waitress."""
from __future__ import annotations

import sys

from app import StartupError, create_app


def _create():
    try:
        return create_app()
    except StartupError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(1)


app = _create()


def main() -> None:
    """Serve with waitress on DICOM_HOST:DICOM_PORT with DICOM_THREADS threads."""
    import signal

    from waitress import serve

    # SIGTERM exits normally, so atexit hooks run (the background worker hands back its
    # operation at once instead of after its lease).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Serving DICOMweb on http://{app.config['HOST']}:{app.config['PORT']} "
          f"(database: {app.extensions['dicom_db'].dialect}, "
          f"partitions: {'on' if app.config['ENABLE_DATA_PARTITIONS'] else 'off'})", flush=True)
    serve(app, host=app.config["HOST"], port=app.config["PORT"],
          threads=app.config["THREADS"], max_request_body_size=1 << 62,
          channel_timeout=300, ident="dicomweb",
          # Fewer, larger socket reads; bodies up to 1 MiB (one CT image) stay in memory
          # instead of a temporary file. Larger bodies still go to disk: memory stays flat.
          recv_bytes=256 * 1024, inbuf_overflow=1024 * 1024,
          # Streamed multipart responses stay in memory up to 16 MiB per connection.
          outbuf_overflow=16 << 20)


if __name__ == "__main__":
    main()
