import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("haken")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _connections_as_after_a_request(sender=None, **_kwargs) -> None:
    """A task's database connections are kept or dropped as Django does around a request:
    dropped when older than CONN_MAX_AGE, after an error it leaves unusable, or with the
    transaction state not restored; otherwise kept, and checked (CONN_HEALTH_CHECKS) by the
    next task's first query. Celery's own Django fixup closes them after every task unless
    CELERY_DB_REUSE_MAX is set (settings), and a new connection costs a chat turn a backend
    start and cold catalog caches: about half of the turn. Not for an eager task: it runs
    inside its caller's transaction."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
