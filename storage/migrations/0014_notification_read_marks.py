"""Per-person read state of staff notifications: each staff member's own mark (the newest notification id read),
instead of one shared "read" flag that one reader cleared for everyone it was addressed to. A row's status still
says whether anyone has read it: a new account starts with what nobody of its roles and units has read yet."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("appeals", "0013_notification_staff")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Staff",
            name="notifications_read_to",
            field=fields.IntField(null=True),
        ),
    ]
