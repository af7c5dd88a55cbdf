"""Give the admin and operator groups the permission to read the audit log in the admin.

The groups come from accounts 0003_roles, which may run before this app's tables exist, so
the grant lives here. /api/audit/ checks the role itself; this is for the admin site.
"""

from typing import Any

from django.db import migrations

READERS = ("admin", "operator")


def _permission(apps: Any) -> Any:
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure this one exists now (the
    # migration state's app config needs models_module set for create_permissions to run).
    config = apps.get_app_config("audit")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    permission_model = apps.get_model("auth", "Permission")
    return permission_model.objects.get(
        content_type__app_label="audit", codename="view_auditevent"
    )


def grant(apps: Any, schema_editor: Any) -> None:
    permission = _permission(apps)
    for group in apps.get_model("auth", "Group").objects.filter(name__in=READERS):
        group.permissions.add(permission)


def revoke(apps: Any, schema_editor: Any) -> None:
    permission = _permission(apps)
    for group in apps.get_model("auth", "Group").objects.filter(name__in=READERS):
        group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
        ("accounts", "0003_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
