"""An index on the outbox by recipient: the web-chat pusher claims only the rows of the citizens connected to
its process, and a returning citizen's pending rows are looked up by address (without it both walk every
pending row of every channel)."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("appeals", "0011_case_search")]

    initial = False

    operations = [ops.RunSQL(
        "CREATE INDEX IF NOT EXISTS notification_channel_address ON notification (channel, address, status)",
        "DROP INDEX IF EXISTS notification_channel_address",
    )]
