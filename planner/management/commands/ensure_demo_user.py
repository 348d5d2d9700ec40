import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create a demo login for local use if it does not exist, and print its credentials."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")

    def handle(self, *args, username: str, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "ensure_demo_user is for local use; it refuses to run with DJANGO_ENV=production"
            )
        credentials_file = settings.VAR_DIR / "demo_login.txt"
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            credentials_file.parent.mkdir(parents=True, exist_ok=True)
            credentials_file.write_text(f"{username}\n{password}\n")
            credentials_file.chmod(0o600)
            self.stdout.write(f"Created demo login: {username} / {password} (saved in {credentials_file})")
            return
        if credentials_file.exists():
            saved_user, saved_password = ([*credentials_file.read_text().splitlines(), "", ""])[:2]
            if saved_user == username and user.check_password(saved_password):
                self.stdout.write(f"Demo login: {username} / {saved_password}")
                return
        self.stdout.write(f"Demo user {username!r} exists; its password was changed outside this command.")
