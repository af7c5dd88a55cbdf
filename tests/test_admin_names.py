"""The admin names every model in good English: plurals ("push deliveries", not "deliverys")
and acronyms ("API keys", not "Api keys")."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib import admin

from tests.admin_people import make_staff, signed_in

pytestmark = pytest.mark.django_db

# The changelist of each model whose default name was wrong, and what it is called now.
RENAMED = {
    "/admin/a2a/pushdelivery/": "Push deliveries",
    "/admin/accounts/externalidentity/": "External identities",
    "/admin/tools/transcriptentry/": "Transcript entries",
    "/admin/accounts/apikey/": "API keys",
    "/admin/tools/llmcall/": "LLM calls",
}
# "-y" after a consonant becomes "-ies"; "-s", "-x", "-ch", "-sh" take "-es".
WRONG_PLURAL = re.compile(r"([^aeiou]ys|ss|xs|chs|shs)$")


@pytest.mark.parametrize(("path", "plural"), RENAMED.items())
def test_the_changelist_and_the_index_use_the_right_plural(path, plural):
    client = signed_in(make_staff("root", superuser=True))
    changelist = client.get(path)
    assert changelist.status_code == 200
    html = changelist.content.decode()
    # The breadcrumbs end in the plural; the title names one of them.
    assert re.search(rf"&rsaquo; {re.escape(plural)}\s*</div>", html)
    singular = changelist.context["cl"].opts.verbose_name
    assert f"<title>Select {singular} to change |" in html
    index = client.get("/admin/").content.decode()
    assert f'<a href="{path}">{plural}</a>' in index


def test_no_model_has_a_misspelt_plural():
    wrong = {
        model._meta.label: str(model._meta.verbose_name_plural)
        for model in apps.get_models()
        if WRONG_PLURAL.search(str(model._meta.verbose_name_plural))
    }
    assert wrong == {}


def test_every_admin_model_spells_its_acronyms_in_capitals():
    for model in admin.site._registry:
        name = str(model._meta.verbose_name)
        assert not re.search(r"\b(api|llm|a2a|jwt|oidc|url)\b", name), model._meta.label
