from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('appeals', '0008_queue_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RiskAck',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('fingerprint', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharField(max_length=16)),
                ('key', fields.CharField(max_length=128)),
                ('staff', fields.ForeignKeyField('appeals.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='risk_acks', on_delete=OnDelete.RESTRICT)),
                ('note', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'risk_ack', 'app': 'appeals', 'pk_attr': 'id', 'table_description': "A supervisor's acknowledgement of one risk warning, found again by the warning's fingerprint."},
            bases=['Model'],
        ),
    ]
