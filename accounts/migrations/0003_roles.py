"""Create the role groups and give them their model permissions (see accounts/roles.py).

Model permissions only matter where Django checks them without an object: the admin site.
What a role may do with a particular task is decided by accounts/roles.py and the task's
object permissions, not here. The audit app's permissions are granted by its own migration
(it may be migrated after this one).
"""

from django.db import migrations

ROLE_NAMES = ("admin", "operator", "approver", "user", "viewer")
# Every permission of these apps goes to admin.
ADMIN_APPS = ("accounts", "a2a", "tools")
# Operators see every task and its trail, and may cancel any task; never webhook secrets
# (push configs) or API keys.
OPERATOR_PERMISSIONS = (
    ("a2a", "view_task"),
    ("a2a", "cancel_task"),
    ("a2a", "view_context"),
    ("a2a", "view_message"),
    ("a2a", "view_artifact"),
    ("a2a", "view_taskevent"),
    ("a2a", "view_pushdelivery"),
    ("tools", "view_toolcall"),
    ("tools", "view_llmcall"),
    ("tools", "view_transcriptentry"),
)


def _ensure_permissions(apps):
    """Create the permission rows now; Django creates them only after all migrations ran."""
    from django.contrib.auth.management import create_permissions

    for label in ADMIN_APPS:
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None


def create_roles(apps, schema_editor):
    _ensure_permissions(apps)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    groups = {name: group_model.objects.get_or_create(name=name)[0] for name in ROLE_NAMES}
    groups["admin"].permissions.add(
        *permission_model.objects.filter(content_type__app_label__in=ADMIN_APPS)
    )
    for app_label, codename in OPERATOR_PERMISSIONS:
        groups["operator"].permissions.add(
            permission_model.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_apikey_scopes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        # The models whose permissions the roles get, cancel_task and approve_task included.
        ("a2a", "0007_grant_owner_permissions"),
        ("tools", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
