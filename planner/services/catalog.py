"""Catalog edits through the API (hardware, model and hosted-API price rows: create, change, delete;
hardware and models: duplicate, import a config.json), each recorded in the admin's change history as an
admin edit is."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from calculator.hf_config import ConfigImportError, model_from_hf_config
from planner import specs
from planner.models import Hardware, HostedApiPrice, LLMModel

CatalogRow = Hardware | LLMModel | HostedApiPrice


def catalog_log(user, obj, action: int, message: str = "") -> None:
    """Record an API change in the admin's history (django.contrib.admin LogEntry), as admin edits are."""
    if user is None or not user.is_authenticated:
        return
    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[obj],
        action_flag=action,
        change_message=message or {ADDITION: "Added via API.", CHANGE: "Changed via API."}.get(action, ""),
        single_object=True,
    )


def catalog_log_deletion(user, obj) -> None:
    if user is None or not user.is_authenticated:
        return
    LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action_flag=DELETION,
        change_message="Deleted via API.",
    )


def catalog_row_create(
    model_class: type[Hardware] | type[LLMModel] | type[HostedApiPrice], *, user, values: dict[str, Any]
) -> CatalogRow:
    """A new row from checked values (the API's serializer ran the model's clean()), recorded as added."""
    row = model_class.objects.create(**values)
    catalog_log(user, row, ADDITION)
    return row


def catalog_row_update(row: CatalogRow, *, user, values: dict[str, Any]) -> CatalogRow:
    """The row with `values` set and saved, recorded as changed (naming the fields given)."""
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    catalog_log(user, row, CHANGE, f"Changed via API: {', '.join(values)}.")
    return row


def catalog_row_delete(row: CatalogRow, *, user) -> None:
    """Record the deletion in the admin's history, then delete the row."""
    catalog_log_deletion(user, row)
    row.delete()


def _free_key(model_class, key: str) -> str:
    base = f"{key}-copy"
    candidate, n = base, 1
    while model_class.objects.filter(key=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def catalog_row_duplicate(row: Hardware | LLMModel, *, user=None) -> Hardware | LLMModel:
    """A copy under a free key ("<key>-copy", "<key>-copy-2", ...) without aliases (they must stay unique),
    recorded as added by `user` (the admin's duplicate action records its own entry and passes none)."""
    copy = type(row).objects.get(pk=row.pk)
    copy.pk = None
    copy.id = None
    copy.key = _free_key(type(row), row.key)
    copy.name = f"{row.name} (copy)"
    copy.aliases = []
    copy.save()
    catalog_log(user, copy, ADDITION, f"Duplicated from {row.key}.")
    return copy


def model_import_config(
    *, config: Any, key: str = "", name: str = "", source: str = "", user=None
) -> tuple[LLMModel, list[str]]:
    """Create an LLMModel from a Hugging Face config.json (a dict or JSON text, never a path)."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as error:
            raise ValidationError({"config": f"not valid JSON: {error}"}) from None
    if not isinstance(config, dict):
        raise ValidationError({"config": "must be a JSON object (the contents of config.json)."})
    try:
        spec, warnings = model_from_hf_config(config, key=key or None, name=name or None)
    except ConfigImportError as error:
        raise ValidationError({"config": str(error)}) from None
    values = specs.model_row_values(spec)
    values["source"] = source or f"config.json imported by {getattr(user, 'username', '') or 'unknown'}"
    row = LLMModel(**values)
    row.full_clean()
    row.save()
    catalog_log(user, row, ADDITION, "Imported from config.json.")
    return row, warnings
