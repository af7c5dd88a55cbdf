"""Give the owner of every existing task the object permissions a new task's owner gets.

New tasks get them in ``message_send``; tasks created before object permissions existed
get them here, so every owner is in the permission tables the selectors join on.
"""

from django.db import migrations
from django.db.models import F

OWNER_CODENAMES = ("view_task", "change_task", "cancel_task", "approve_task")
BATCH = 2000


def _ensure_permissions(apps):
    """Create a2a's permission rows now; Django creates them only after all migrations ran."""
    from django.contrib.auth.management import create_permissions

    config = apps.get_app_config("a2a")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None


def grant(apps, schema_editor):
    _ensure_permissions(apps)
    task_model = apps.get_model("a2a", "Task")
    grant_model = apps.get_model("a2a", "TaskUserObjectPermission")
    permission_model = apps.get_model("auth", "Permission")
    permissions = list(
        permission_model.objects.filter(
            content_type__app_label="a2a",
            content_type__model="task",
            codename__in=OWNER_CODENAMES,
        )
    )
    rows = []
    for task_id, owner_id in task_model.objects.values_list("pk", "owner_id").iterator(
        chunk_size=BATCH
    ):
        rows.extend(
            grant_model(user_id=owner_id, permission=p, content_object_id=task_id)
            for p in permissions
        )
        if len(rows) >= BATCH:
            grant_model.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    grant_model.objects.bulk_create(rows, ignore_conflicts=True)


def revoke(apps, schema_editor):
    grant_model = apps.get_model("a2a", "TaskUserObjectPermission")
    grant_model.objects.filter(
        user_id=F("content_object__owner_id"), permission__codename__in=OWNER_CODENAMES
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("a2a", "0006_task_permissions"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
