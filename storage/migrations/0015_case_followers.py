"""Citizens following a similar open case (关注, 并单) instead of submitting the same matter again: they are told its
outcome and find it among their own cases."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from storage.models import Channel


class Migration(migrations.Migration):
    dependencies = [("appeals", "0014_notification_read_marks")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CaseFollower",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("case", fields.ForeignKeyField("appeals.Case", source_field="case_id", db_constraint=True,
                                                to_field="id", related_name="followers",
                                                on_delete=OnDelete.CASCADE)),
                ("citizen", fields.ForeignKeyField("appeals.Citizen", source_field="citizen_id", db_constraint=True,
                                                   to_field="id", related_name="following",
                                                   on_delete=OnDelete.CASCADE)),
                ("channel", fields.CharEnumField(description="", enum_type=Channel, max_length=16)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "case_follower", "app": "appeals", "pk_attr": "id",
                     "unique_together": (("case", "citizen"),),
                     "table_description": "A citizen who chose to follow a similar open case (并单) instead of "
                                          "submitting the same matter again."},
            bases=["Model"],
        ),
    ]
