from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('appeals', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CatalogueEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('category', fields.CharField(max_length=32)),
                ('district', fields.CharField(null=True, max_length=64)),
                ('unit', fields.ForeignKeyField('appeals.Unit', source_field='unit_id', db_constraint=True, to_field='id', related_name='catalogue', on_delete=OnDelete.CASCADE)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'catalogue_entry', 'app': 'appeals', 'unique_together': (('category', 'district', 'unit'),), 'pk_attr': 'id', 'table_description': 'A dispatch-catalogue rule: this category (in this district, if set) goes to this unit.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Staff',
            name='language',
            field=fields.CharField(default='zh-CN', db_default='zh-CN', max_length=8),
        ),
    ]
