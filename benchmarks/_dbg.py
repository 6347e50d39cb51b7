import os, sys
sys.path.insert(0, "/work/wt-12")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django; django.setup()
from django.conf import settings
from django.db import transaction
settings.ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS,"testserver"]
from agents import dialogue_suite as suite, services
from agents.models import Message
import agents.services as S
orig=S.message_answer
def wrapped(**kw):
    r=orig(**kw)
    if r is None:
        m=Message.objects.get(pk=kw["message_id"]); print("NONE", m.status, m.content)
    return r
S.message_answer=wrapped
with transaction.atomic():
    shop=suite.build_shop("inkwell")
    d=[x for x in suite.load_dialogues() if x["id"]==sys.argv[1]][0]
    try:
        for r in suite.run_dialogue(shop, d, "127.0.0.9"):
            print(r.say, "->", r.reply, r.failures)
    finally:
        transaction.set_rollback(True)
