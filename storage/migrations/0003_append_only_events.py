"""Make the timeline append-only in the database itself: UPDATE and DELETE of case events fail."""

from tortoise import migrations
from tortoise.migrations import operations as ops

SQLITE = """
CREATE TRIGGER case_event_no_update BEFORE UPDATE ON case_event
BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END;
CREATE TRIGGER case_event_no_delete BEFORE DELETE ON case_event
BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END;
"""
SQLITE_REVERSE = "DROP TRIGGER case_event_no_update; DROP TRIGGER case_event_no_delete;"

POSTGRES = """
CREATE FUNCTION case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'case_event is append-only'; END $$;
CREATE TRIGGER case_event_no_change BEFORE UPDATE OR DELETE ON case_event
FOR EACH ROW EXECUTE FUNCTION case_event_append_only();
"""
POSTGRES_REVERSE = "DROP TRIGGER case_event_no_change ON case_event; DROP FUNCTION case_event_append_only();"


def _script(editor, sqlite: str, postgres: str) -> str:  # noqa: ANN001
    return sqlite if editor.client.capabilities.dialect == "sqlite" else postgres


async def forward(apps, editor) -> None:  # noqa: ANN001
    await editor.client.execute_script(_script(editor, SQLITE, POSTGRES))


async def backward(apps, editor) -> None:  # noqa: ANN001
    await editor.client.execute_script(_script(editor, SQLITE_REVERSE, POSTGRES_REVERSE))


class Migration(migrations.Migration):
    dependencies = [("appeals", "0002_catalogue_and_staff_language")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
