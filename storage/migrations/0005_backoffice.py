from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('appeals', '0004_scheduler_jobs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CatalogueChange',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('appeals.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='catalogue_changes', on_delete=OnDelete.SET_NULL)),
                ('change', fields.CharField(max_length=16)),
                ('category', fields.CharField(max_length=32)),
                ('district', fields.CharField(null=True, max_length=64)),
                ('unit_code', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'catalogue_change', 'app': 'appeals', 'pk_attr': 'id', 'table_description': 'A versioned change to the dispatch catalogue: who changed what, and when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoginThrottle',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=160)),
                ('failures', fields.IntField(default=0)),
                ('window_start', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'login_throttle', 'app': 'appeals', 'pk_attr': 'id', 'table_description': 'Failed logins per username or address, whether or not the account exists.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('staff', fields.ForeignKeyField('appeals.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('csrf_token', fields.CharField(max_length=64)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_session', 'app': 'appeals', 'pk_attr': 'id', 'table_description': 'A back-office login: the cookie holds a random token, the table only its SHA-256.'},
            bases=['Model'],
        ),
    ]
