import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Import now, as the worker boots, what its first requests would otherwise import while a
# client waits (and every other thread of the worker with it, behind the import lock): every
# app's URLs and views (the agents' LangChain stack among them), and every app's Celery tasks,
# which the services queue by name (core.queue.task_named; Celery's Django fixup runs the
# system checks on that import). Measured on a fresh gunicorn worker: its first 1,000-event
# POST /api/v1/sales took 2.3 s, the next ones 66 ms.
get_resolver().url_patterns  # noqa: B018 (the property imports the URLconf)

from config.celery import app as celery_app  # noqa: E402

celery_app.loader.import_default_modules()
