from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from storage.lifecycle import Action
from storage.models import KnowledgeStatus, RevisionStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('appeals', '0005_backoffice')]

    initial = False

    operations = [
        ops.CreateModel(
            name='KnowledgeArticle',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('unit', fields.ForeignKeyField('appeals.Unit', source_field='unit_id', db_constraint=True, to_field='id', related_name='knowledge', on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharEnumField(default=KnowledgeStatus.DRAFT, description='DRAFT: draft\nPUBLISHED: published\nWITHDRAWN: withdrawn', enum_type=KnowledgeStatus, max_length=16)),
                ('category', fields.CharField(default='', max_length=32)),
                ('questions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('answer', fields.TextField(default='', unique=False)),
                ('source', fields.CharField(default='', max_length=255)),
                ('valid_from', fields.DateField(null=True)),
                ('valid_to', fields.DateField(null=True)),
                ('version', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'knowledge_article', 'app': 'appeals', 'indexes': [Index(fields=['status', 'valid_to'])], 'pk_attr': 'id', 'table_description': 'A knowledge-base answer owned by one unit - the live fields copy its published revision.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='KnowledgeRevision',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('appeals.KnowledgeArticle', source_field='article_id', db_constraint=True, to_field='id', related_name='revisions', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('status', fields.CharEnumField(default=RevisionStatus.DRAFT, description='DRAFT: draft\nREVIEW: review\nPUBLISHED: published\nSUPERSEDED: superseded', enum_type=RevisionStatus, max_length=16)),
                ('category', fields.CharField(default='', max_length=32)),
                ('questions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('answer', fields.TextField(unique=False)),
                ('source', fields.CharField(default='', max_length=255)),
                ('valid_from', fields.DateField(null=True)),
                ('valid_to', fields.DateField(null=True)),
                ('author', fields.ForeignKeyField('appeals.Staff', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='knowledge_written', on_delete=OnDelete.SET_NULL)),
                ('reviewer', fields.ForeignKeyField('appeals.Staff', source_field='reviewer_id', null=True, db_constraint=True, to_field='id', related_name='knowledge_reviewed', on_delete=OnDelete.SET_NULL)),
                ('review_note', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'knowledge_revision', 'app': 'appeals', 'unique_together': (('article', 'number'),), 'pk_attr': 'id', 'table_description': 'One version of an article: written by unit staff, reviewed by the unit head, then published.'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='CaseEvent',
            name='action',
            field=fields.CharEnumField(description='SUBMIT: submit\nACCEPT: accept\nREJECT: reject\nMERGE: merge\nDISPATCH: dispatch\nSIGN: sign\nRETURN: return\nUPHOLD_DISPATCH: uphold_dispatch\nPROGRESS_NOTE: progress_note\nCONTACT: contact\nCOORDINATE: coordinate\nREQUEST_EXTENSION: request_extension\nAPPROVE_EXTENSION: approve_extension\nDENY_EXTENSION: deny_extension\nSUPERVISE: supervise\nANSWER_DIRECTLY: answer_directly\nSUBMIT_REPLY: submit_reply\nAPPROVE_REPLY: approve_reply\nSEND_BACK: send_back\nCALLBACK: callback\nCALLBACK_ATTEMPT: callback_attempt\nEVALUATE: evaluate\nREOPEN: reopen\nARCHIVE: archive\nNOTE: note\nUNMASK: unmask\nLABEL_MALICIOUS: label_malicious\nCLEAR_MALICIOUS: clear_malicious', enum_type=Action, max_length=24),
        ),
    ]
