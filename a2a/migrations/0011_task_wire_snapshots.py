"""Keep each task's history and artifacts in wire form on its row, filled for existing tasks.

GetTask and ListTasks then answer from the task row alone. The fill uses the converters the
services use (a2a/protocol/convert.py), not copies: the row must hold exactly what they write.
They read only fields that exist at this migration; a later change of the wire form needs a
migration of its own that writes every row again.
"""

from django.db import migrations, models

from a2a.protocol.convert import artifact_to_wire, message_to_wire

_BATCH = 500


def _fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Write every task's wire history and artifacts from its Message and Artifact rows."""
    Task = apps.get_model("a2a", "Task")
    Message = apps.get_model("a2a", "Message")
    Artifact = apps.get_model("a2a", "Artifact")
    after = None
    while True:
        page = Task.objects.order_by("pk").select_related("context").only("pk", "context__key")
        if after is not None:
            page = page.filter(pk__gt=after)
        tasks = list(page[:_BATCH])
        if not tasks:
            return
        after = tasks[-1].pk
        by_id = {task.pk: task for task in tasks}
        for task in tasks:
            task.wire_history = []
            task.wire_artifacts = []
        messages = Message.objects.filter(task_id__in=by_id).order_by("task_id", "position")
        for message in messages:
            task = by_id[message.task_id]
            task.wire_history.append(message_to_wire(message, context_key=task.context.key))
        artifacts = Artifact.objects.filter(task_id__in=by_id).order_by("created_at", "id")
        for artifact in artifacts:
            by_id[artifact.task_id].wire_artifacts.append(artifact_to_wire(artifact))
        Task.objects.bulk_update(tasks, ["wire_history", "wire_artifacts"])


class Migration(migrations.Migration):

    dependencies = [
        ("a2a", "0010_message_owner_message_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="wire_history",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="task",
            name="wire_artifacts",
            field=models.JSONField(blank=True, default=list),
        ),
        # Back to 0010 the columns go; the rows they were made from were never touched.
        migrations.RunPython(_fill, migrations.RunPython.noop),
    ]
