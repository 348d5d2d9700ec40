"""Hosted-API prices as catalog rows (models.HostedApiPrice; manage.py seed_catalog loads
calculator/data/hosted_api_prices.csv into it).

No catalog-revision trigger (migration 0009) on this table: the break-even reads these rows afresh on each
call (planner.specs.hosted_prices) and no cached catalog holds them, so an edit already counts at once and
bumping the revision would only make every process rebuild its estimate catalogs for nothing.
"""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import planner.models


class Migration(migrations.Migration):
    dependencies = [
        ("planner", "0011_comparison_row_token_split"),
    ]

    operations = [
        migrations.CreateModel(
            name="HostedApiPrice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("provider", models.CharField(max_length=100)),
                (
                    "api_model",
                    models.CharField(
                        help_text="The provider's name for the model, as they list it.", max_length=200
                    ),
                ),
                (
                    "usd_per_million_input_tokens",
                    models.FloatField(
                        validators=[django.core.validators.MinValueValidator(0.0), planner.models._finite]
                    ),
                ),
                (
                    "usd_per_million_output_tokens",
                    models.FloatField(
                        validators=[django.core.validators.MinValueValidator(0.0), planner.models._finite]
                    ),
                ),
                (
                    "usd_per_million_cached_input_tokens",
                    models.FloatField(
                        blank=True,
                        help_text="Empty where the provider lists no cached-input price.",
                        null=True,
                        validators=[django.core.validators.MinValueValidator(0.0), planner.models._finite],
                    ),
                ),
                (
                    "precision",
                    models.CharField(
                        blank=True,
                        help_text="The weights' precision as served, where the provider says.",
                        max_length=32,
                    ),
                ),
                ("notes", models.TextField(blank=True)),
                ("as_of", models.DateField(help_text="When the price was read.")),
                ("source", models.TextField(help_text="The page the price was read from.")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "model",
                    models.ForeignKey(
                        help_text="The catalog model with the same weights the provider serves.",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="hosted_prices",
                        to="planner.llmmodel",
                    ),
                ),
            ],
            options={
                "verbose_name": "hosted API price",
                "ordering": ["model_id", "provider", "-as_of", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("provider", "api_model", "as_of"), name="hostedapiprice_unique_listing"
                    )
                ],
            },
        ),
    ]
