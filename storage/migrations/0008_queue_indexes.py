from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('appeals', '0007_channels')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Case',
            index=Index(fields=['status', 'id']),
        ),
        ops.AddIndex(
            model_name='CaseAssignment',
            index=Index(fields=['unit_id', 'active', 'case_id']),
        ),
        ops.AddIndex(
            model_name='CaseAssignment',
            index=Index(fields=['case_id', 'active']),
        ),
    ]
