"""Give the admin and operator groups every permission of the remote agents app.

Operators register and manage remote agents (accounts/roles.py); the groups come from
accounts 0003_roles. Model permissions only matter in the admin site.
"""

from typing import Any

from django.db import migrations

MANAGERS = ("admin", "operator")


def _permissions(apps: Any) -> Any:
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure these exist now.
    config = apps.get_app_config("remote_agents")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    permission_model = apps.get_model("auth", "Permission")
    return permission_model.objects.filter(content_type__app_label="remote_agents")


def grant(apps: Any, schema_editor: Any) -> None:
    permissions = list(_permissions(apps))
    for group in apps.get_model("auth", "Group").objects.filter(name__in=MANAGERS):
        group.permissions.add(*permissions)


def revoke(apps: Any, schema_editor: Any) -> None:
    permissions = list(_permissions(apps))
    for group in apps.get_model("auth", "Group").objects.filter(name__in=MANAGERS):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("remote_agents", "0001_initial"),
        ("accounts", "0003_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
