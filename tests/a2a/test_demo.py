"""``manage.py demo`` (the step of ``make run`` before serving) prepares what a first run needs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_demo_creates_the_files_folder_and_says_where_it_is(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    files = tmp_path / "fresh" / "files"
    settings.WEBCAP_FILES_ROOT = str(files)
    out = StringIO()

    call_command("demo", "--port", "8123", stdout=out)

    assert files.is_dir()
    assert f"  Files:       {files}   (read_file reads files you put here)\n" in out.getvalue()
    # A second run finds it there and keeps what was put in it.
    (files / "notes.txt").write_text("remember the milk")
    call_command("demo", stdout=StringIO())
    assert (files / "notes.txt").read_text() == "remember the milk"
