import os, sys, time, tempfile
sys.path.insert(0, "/work/main")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_MEDIA_ROOT", tempfile.mkdtemp())
import django; django.setup()
from django.db import connection
from django.core.files import File
from benchmarks import ingest_csv as b
from revenue.services.uploads import upload_create, upload_process
from pathlib import Path
rows = int(sys.argv[1])
b.reset_revenue_tables()
partner, user = b.member()
path = Path(tempfile.mkdtemp()) / "s.csv"
b.generate(path, rows)
timings = []
def wrapper(execute, sql, params, many, context):
    s = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        timings.append((time.perf_counter() - s, " ".join(sql.split())[:110]))
with open(path, "rb") as f:
    up = upload_create(actor=user, partner=partner, file=File(f, name="s.csv"))
with connection.execute_wrapper(wrapper):
    s = time.perf_counter()
    up = upload_process(upload_id=up.pk)
    print("total", time.perf_counter() - s, up.status, up.accepted)
for t, sql in timings:
    if t > 0.02: print(f"{t:6.2f} {sql}")
