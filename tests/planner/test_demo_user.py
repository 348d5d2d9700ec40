import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.mark.django_db
def test_ensure_demo_user_creates_once_and_prints_the_login(tmp_path, settings, capsys):
    settings.VAR_DIR = tmp_path

    call_command("ensure_demo_user")
    first = capsys.readouterr().out
    call_command("ensure_demo_user")
    second = capsys.readouterr().out

    user = get_user_model().objects.get(username="demo")
    password = (tmp_path / "demo_login.txt").read_text().splitlines()[1]
    assert user.check_password(password)
    assert f"demo / {password}" in first
    assert f"demo / {password}" in second
    assert get_user_model().objects.filter(username="demo").count() == 1
