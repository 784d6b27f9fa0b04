"""The WSGI entry point gunicorn serves: ``gunicorn api.wsgi:app``."""

from api.app import create_app
from common import logs

logs.configure("web")
app = create_app()
