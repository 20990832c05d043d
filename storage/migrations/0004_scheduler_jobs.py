from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('appeals', '0003_append_only_events')]

    initial = False

    operations = [
        ops.CreateModel(
            name='JobRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.CharField(max_length=32)),
                ('key', fields.CharField(max_length=96)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'job_run', 'app': 'appeals', 'unique_together': (('job', 'key'),), 'pk_attr': 'id', 'table_description': 'A scheduler job done once for a key (a case, a unit and day …): the unique row is the claim.'},
            bases=['Model'],
        ),
    ]
