"""Give every tool call an idempotency key and an attempt count.

The key is added nullable, filled for the existing calls (a random UUID each, and one
attempt for those that started), then made unique and required. Reversing drops both
fields.
"""

import uuid
from typing import Any

from django.db import migrations, models

import tools.models


def keys_backfill(apps: Any, schema_editor: Any) -> None:
    ToolCall = apps.get_model("tools", "ToolCall")
    for pk in ToolCall.objects.filter(idempotency_key__isnull=True).values_list("pk", flat=True):
        ToolCall.objects.filter(pk=pk).update(idempotency_key=str(uuid.uuid4()))
    ToolCall.objects.filter(started_at__isnull=False).update(attempts=1)


class Migration(migrations.Migration):
    dependencies = [
        ("tools", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="toolcall",
            name="idempotency_key",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="toolcall",
            name="attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(keys_backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="toolcall",
            name="idempotency_key",
            field=models.CharField(
                default=tools.models.idempotency_key_new,
                editable=False,
                max_length=64,
                unique=True,
            ),
        ),
    ]
