from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('appeals', '0006_knowledge')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_key', 'app': 'appeals', 'pk_attr': 'id', 'table_description': 'An API key of an Open311 client application, kept only as its SHA-256 hash.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookPeer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('secret', fields.CharField(max_length=128)),
                ('callback_url', fields.CharField(default='', max_length=512)),
                ('replay_window', fields.IntField(default=300)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'webhook_peer', 'app': 'appeals', 'pk_attr': 'id', 'table_description': 'A messenger bridge (an SMS gateway, a WeChat or DingTalk bridge): HMAC secret, replay window, callback.'},
            bases=['Model'],
        ),
    ]
