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
    """Delete the role groups with what points at them: memberships, permissions, shares.

    Not Group.objects.filter(...).delete(): when this runs in the same migrate call as the
    reversal of a later accounts migration, historical models that point at Group (a2a's
    TaskGroupObjectPermission) may still point at an older rendering of Group, and
    the delete collector rejects the groups ("Must be 'Group' instance"). Deleting the rows
    that reference the groups by id, then the groups themselves, needs no model instances.
    """
    db = schema_editor.connection.alias
    group_model = apps.get_model("auth", "Group")
    groups = group_model._base_manager.using(db).filter(name__in=ROLE_NAMES)
    ids = list(groups.values_list("pk", flat=True))
    # Reverse foreign keys, hidden ones included: the through tables of Group.permissions
    # and User.groups, and every object permission granted to a group.
    for relation in group_model._meta.get_fields(include_hidden=True):
        if relation.auto_created and not relation.concrete and relation.one_to_many:
            related = relation.related_model._base_manager.using(db)
            related.filter(**{f"{relation.field.attname}__in": ids}).delete()
    # The collector would look at the same relations again, with instances; nothing is left
    # that references these rows, so a plain DELETE is what Group.delete() would end with.
    groups._raw_delete(db)


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
