from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('appeals', '0009_risk_acks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HolidayOverride',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField(unique=True)),
                ('kind', fields.CharField(max_length=16)),
                ('note', fields.CharField(default='', max_length=128)),
                ('staff', fields.ForeignKeyField('appeals.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='holiday_overrides', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'holiday_override', 'app': 'appeals', 'pk_attr': 'id', 'table_description': 'A local correction of the calendar: this date is a holiday, or a working day, whatever chinesecalendar says.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='KpiWeightSet',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.CharField(unique=True, max_length=64)),
                ('note', fields.TextField(default='', unique=False)),
                ('weights', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('basic_satisfied_k', fields.FloatField(default=0.9)),
                ('volume_floor', fields.IntField(default=10)),
                ('repeat_window_days', fields.IntField(default=30)),
                ('staff', fields.ForeignKeyField('appeals.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='kpi_weight_sets', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'kpi_weight_set', 'app': 'appeals', 'pk_attr': 'id', 'table_description': 'One version of the KPI weights edited by an admin - the newest row is current, none: kpi_weights.json.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecoveryCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('appeals.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='recovery_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=64)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'recovery_code', 'app': 'appeals', 'pk_attr': 'id', 'table_description': "A one-time recovery code of a staff member's second factor, kept only as its SHA-256 hash."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_confirmed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_last_step',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_secret',
            field=fields.CharField(null=True, max_length=256),
        ),
    ]
