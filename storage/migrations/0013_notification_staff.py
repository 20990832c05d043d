"""Indexes on the outbox by staff recipient: every back-office page counts its reader's unread notifications
(addressed to a role or a unit), and the notifications page lists them newest first; without these both walk
every staff notification of the city. On a large PostgreSQL outbox the build holds the table's writes for a while:
migrate in a quiet hour."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("appeals", "0012_notification_address")]

    initial = False

    operations = [ops.RunSQL(
        ["CREATE INDEX IF NOT EXISTS notification_role_status ON notification (role, channel, status, id)",
         "CREATE INDEX IF NOT EXISTS notification_unit_status ON notification (unit_id, channel, status, id)"],
        ["DROP INDEX IF EXISTS notification_role_status", "DROP INDEX IF EXISTS notification_unit_status"],
    )]
