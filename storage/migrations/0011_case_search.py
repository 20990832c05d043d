"""Chinese full-text search over cases: the same character pairs indexed on SQLite (FTS5) and PostgreSQL (GIN).

A case's searchable terms are every pair of adjacent characters of its title and text (ASCII letters
folded to lower case), so a two-character word such as 噪音 is found, plus its number's last digit
group ("00042" and "42"). The database computes them itself, in the statement that writes the case,
so every writer (CaseService, bulk loads, the retention job that masks old text) keeps the index in
step inside its own transaction. storage/search.py builds queries over the same terms.

It also adds the indexes the queue pages walk (backoffice/queues.py): a unit's led cases by status
in id order, by status and deadline, and in id order, a unit's co-handled cases, and the whole city
by deadline.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEXES = """
CREATE INDEX IF NOT EXISTS appeal_case_lead_status_id ON appeal_case (lead_unit_id, status, id);
CREATE INDEX IF NOT EXISTS appeal_case_lead_id ON appeal_case (lead_unit_id, id);
CREATE INDEX IF NOT EXISTS appeal_case_lead_status_due ON appeal_case (lead_unit_id, status, due_at);
CREATE INDEX IF NOT EXISTS appeal_case_due_id ON appeal_case (due_at, id);
CREATE INDEX IF NOT EXISTS case_assignment_unit_lead ON case_assignment (unit_id, active, lead, case_id);
"""
INDEXES_REVERSE = """
DROP INDEX IF EXISTS appeal_case_lead_status_id; DROP INDEX IF EXISTS appeal_case_lead_id;
DROP INDEX IF EXISTS appeal_case_lead_status_due;
DROP INDEX IF EXISTS appeal_case_due_id; DROP INDEX IF EXISTS case_assignment_unit_lead;
"""


def _sqlite_terms(row: str) -> str:
    """Return the SQLite expression of a row's terms (``row`` is new or old): hex pairs and number tokens."""
    seq = f"substr({row}.number, length(rtrim({row}.number, '0123456789')) + 1)"
    return (
        "(SELECT coalesce(group_concat(hex(substr(d.v, j.key + 1, 2)), ' '), '')"
        f" FROM (SELECT lower({row}.title || ' ' || {row}.text) AS v) AS d,"
        " json_each('[' || substr(replace(hex(zeroblob(max(length(d.v) - 1, 0))), '00', '0,'),"
        " 1, 2 * length(d.v) - 3) || ']') AS j)"
        f" || ' n' || hex({seq}) || ' n' || hex(ltrim({seq}, '0'))"
    )


SQLITE = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS case_search USING fts5(terms, content='', detail='none', tokenize='ascii');
CREATE TRIGGER IF NOT EXISTS case_search_insert AFTER INSERT ON appeal_case BEGIN
INSERT INTO case_search (rowid, terms) VALUES (new.id, {_sqlite_terms("new")});
END;
CREATE TRIGGER IF NOT EXISTS case_search_update AFTER UPDATE OF title, text, number ON appeal_case BEGIN
INSERT INTO case_search (case_search, rowid, terms) VALUES ('delete', old.id, {_sqlite_terms("old")});
INSERT INTO case_search (rowid, terms) VALUES (new.id, {_sqlite_terms("new")});
END;
CREATE TRIGGER IF NOT EXISTS case_search_delete AFTER DELETE ON appeal_case BEGIN
INSERT INTO case_search (case_search, rowid, terms) VALUES ('delete', old.id, {_sqlite_terms("old")});
END;
INSERT INTO case_search (rowid, terms) SELECT new.id, {_sqlite_terms("new")} FROM appeal_case AS new;
"""
SQLITE_REVERSE = """
DROP TRIGGER IF EXISTS case_search_insert; DROP TRIGGER IF EXISTS case_search_update;
DROP TRIGGER IF EXISTS case_search_delete; DROP TABLE IF EXISTS case_search;
"""

POSTGRES = """
CREATE FUNCTION case_search_terms(title text, body text, number text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT ARRAY(
    SELECT DISTINCT substr(d, i, 2)
    FROM (SELECT translate(coalesce(title, '') || ' ' || coalesce(body, ''),
                           'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') AS d) AS s,
         generate_series(1, length(d) - 1) AS i
) || ARRAY['#' || substring(number from '[0-9]*$'), '#' || ltrim(substring(number from '[0-9]*$'), '0')]
$$;
CREATE FUNCTION case_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.search_terms := case_search_terms(NEW.title, NEW.text, NEW.number); RETURN NEW; END $$;
ALTER TABLE appeal_case ADD COLUMN search_terms text[];
UPDATE appeal_case SET search_terms = case_search_terms(title, text, number);
CREATE TRIGGER case_search_refresh BEFORE INSERT OR UPDATE OF title, text, number ON appeal_case
FOR EACH ROW EXECUTE FUNCTION case_search_refresh();
CREATE INDEX appeal_case_search_terms ON appeal_case USING gin (search_terms);
"""
POSTGRES_REVERSE = """
DROP TRIGGER case_search_refresh ON appeal_case; DROP INDEX appeal_case_search_terms;
ALTER TABLE appeal_case DROP COLUMN search_terms;
DROP FUNCTION case_search_refresh(); DROP FUNCTION case_search_terms(text, text, text);
"""


def _script(editor, sqlite: str, postgres: str) -> str:  # noqa: ANN001
    return sqlite if editor.client.capabilities.dialect == "sqlite" else postgres


async def forward(apps, editor) -> None:  # noqa: ANN001
    await editor.client.execute_script(INDEXES + _script(editor, SQLITE, POSTGRES))


async def backward(apps, editor) -> None:  # noqa: ANN001
    await editor.client.execute_script(INDEXES_REVERSE + _script(editor, SQLITE_REVERSE, POSTGRES_REVERSE))


class Migration(migrations.Migration):
    dependencies = [("appeals", "0010_totp_and_admin")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
