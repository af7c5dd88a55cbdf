"""The abstract base model every webcap model inherits."""

from django.db import models


class TimeStampedModel(models.Model):
    """A row that knows when it was created (indexed) and last changed, in UTC."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
