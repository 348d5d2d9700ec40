"""LLMModel.proxy_note (calculator.ModelSpec.proxy_note): why a row stands in for an unpublished model.

Existing databases get the note the catalog (calculator/data/models.csv) gives the one such row, so its
estimates keep their `proxy_model` warning without a `seed_catalog --overwrite`; an admin's own note stays.

SQLite adds a NOT NULL column by rebuilding the table, and dropping the old table drops its triggers: the
catalog revision triggers of migration 0009 are re-created on planner_llmmodel after the rebuild (and after
the rebuild that reversing this migration makes).
"""

import importlib

from django.db import migrations, models

PROXY_NOTES = {
    "gpt-3-175b": "GPT-4's architecture is unpublished; it is modelled as a GPT-3-175B-shaped dense model",
}
"""As in calculator/data/models.csv when this migration was written (source: that row's `source`)."""


def restore_revision_triggers(apps, schema_editor) -> None:
    revision = importlib.import_module("planner.migrations.0009_catalog_revision")
    revision.recreate_sqlite_triggers(schema_editor, apps.get_model("planner", "LLMModel")._meta.db_table)


def fill_proxy_notes(apps, schema_editor) -> None:
    restore_revision_triggers(apps, schema_editor)
    LLMModel = apps.get_model("planner", "LLMModel")
    for key, note in PROXY_NOTES.items():
        LLMModel.objects.filter(key=key, proxy_note="").update(proxy_note=note)


class Migration(migrations.Migration):
    dependencies = [
        ("planner", "0009_catalog_revision"),
    ]

    operations = [
        # Reversed last, after RemoveField has rebuilt the table once more.
        migrations.RunPython(migrations.RunPython.noop, restore_revision_triggers),
        migrations.AddField(
            model_name="llmmodel",
            name="proxy_note",
            field=models.TextField(
                blank=True,
                default="",
                help_text=(
                    "Only for a row that stands in for a model whose architecture is unpublished: why (every "
                    "estimate of it shows this as a warning)."
                ),
            ),
        ),
        migrations.RunPython(fill_proxy_notes, migrations.RunPython.noop),
    ]
