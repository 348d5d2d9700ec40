"""The catalog revision row and the triggers that rewrite it on every catalog write (models.CatalogRevision).

Triggers rather than Django signals: signals miss QuerySet.update(), bulk writes and raw SQL, and a
counter bumped by hand in each service would miss the admin and the management commands. A trigger runs
in the writing transaction, so the new token commits (or rolls back) with the edit.
- SQLite: row-level triggers (the only kind it has); `INSERT OR IGNORE` first re-creates the row if a
  flush (DELETE FROM every table) removed it. Token: 16 random bytes in hex.
- PostgreSQL: one statement-level trigger per table (INSERT, UPDATE, DELETE and TRUNCATE) calling an
  upsert; token: md5 of random(), the clock and the transaction id.
"""

from django.db import migrations, models

TABLES = ("planner_hardware", "planner_llmmodel", "planner_pricepoint")
OPERATIONS = ("INSERT", "UPDATE", "DELETE")

SQLITE_BUMP = (
    "INSERT OR IGNORE INTO planner_catalogrevision (id, counter, token) VALUES (1, 0, ''); "
    "UPDATE planner_catalogrevision SET counter = counter + 1, token = lower(hex(randomblob(16))) "
    "WHERE id = 1;"
)

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION planner_bump_catalog_revision() RETURNS trigger AS $$
BEGIN
    INSERT INTO planner_catalogrevision (id, counter, token)
    VALUES (1, 1, md5(random()::text || clock_timestamp()::text || txid_current()::text))
    ON CONFLICT (id) DO UPDATE SET counter = planner_catalogrevision.counter + 1, token = EXCLUDED.token;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _trigger_name(table: str, operation: str = "") -> str:
    return f"{table}_catalog_revision{'_' + operation.lower() if operation else ''}"


def recreate_sqlite_triggers(schema_editor, table: str) -> None:
    """Re-create one table's SQLite triggers: a later migration that rebuilds the table on SQLite (AddField
    with a constraint, RemoveField) drops them with the old table. PostgreSQL alters tables in place."""
    if schema_editor.connection.vendor != "sqlite":
        return
    for operation in OPERATIONS:
        name = _trigger_name(table, operation)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")
        schema_editor.execute(f"CREATE TRIGGER {name} AFTER {operation} ON {table} BEGIN {SQLITE_BUMP} END;")


def create_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for table in TABLES:
            for operation in OPERATIONS:
                schema_editor.execute(
                    f"CREATE TRIGGER {_trigger_name(table, operation)} AFTER {operation} ON {table} "
                    f"BEGIN {SQLITE_BUMP} END;"
                )
    elif vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {_trigger_name(table)} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION planner_bump_catalog_revision();"
            )
    else:
        raise RuntimeError(f"catalog revision triggers are written for SQLite and PostgreSQL, not {vendor}")
    apps.get_model("planner", "CatalogRevision").objects.update_or_create(
        id=1, defaults={"counter": 0, "token": "initial"}
    )


def drop_triggers(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "sqlite":
            for operation in OPERATIONS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table, operation)};")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table)} ON {table};")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS planner_bump_catalog_revision();")


class Migration(migrations.Migration):
    dependencies = [
        ("planner", "0008_team_calibrations"),
    ]

    operations = [
        migrations.CreateModel(
            name="CatalogRevision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("counter", models.BigIntegerField(default=0)),
                ("token", models.CharField(blank=True, max_length=32)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
