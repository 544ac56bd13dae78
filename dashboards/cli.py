"""``vitals dashboard``: run the Streamlit dashboard; ``hash-password`` and ``check`` for its config."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import click

from vitals.kernel.options import settings_options
from vitals.kernel.settings import ENV_CONFIG, ENV_DB, Settings
from vitals.kernel.tls import ServerTls

APP = Path(__file__).resolve().parent / "app" / "main.py"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
#: Okabe-Ito blue as the accent on both themes (a light and a dark one; viewers pick in the menu).
THEME_FLAGS = (
    "--theme.light.primaryColor=#0072B2",
    "--theme.dark.primaryColor=#56B4E9",
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _safe_url(url: str) -> str:
    """The store URL without its password, for the banner."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def oidc_secrets_found(*directories: Path) -> bool:
    """Whether Streamlit will find its OIDC client: an ``[auth]`` section in a
    ``.streamlit/secrets.toml`` of the working directory or the home directory."""
    import tomllib

    for directory in directories:
        path = directory / ".streamlit" / "secrets.toml"
        try:
            if "auth" in tomllib.loads(path.read_text()):
                return True
        except (OSError, ValueError):
            continue
    return False


def streamlit_argv(host: str, port: int, tls: ServerTls | None = None) -> list[str]:
    """Streamlit's command line; with ``tls``, it serves HTTPS only (Tornado's TLS)."""
    https = [f"--server.sslCertFile={tls.cert_file}", f"--server.sslKeyFile={tls.key_file}"] if tls else []
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        f"--server.address={host}",
        f"--server.port={port}",
        "--server.headless=true",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--global.developmentMode=false",
        "--client.toolbarMode=minimal",
        *THEME_FLAGS,
        *https,
    ]


def _tls(cert_file: Path | None, key_file: Path | None) -> ServerTls | None:
    """The dashboard's certificate, checked now rather than by Streamlit after the banner."""
    from vitals.kernel.tls import TlsFileError

    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        missing = "--tls-cert-file" if cert_file is None else "--tls-key-file"
        raise click.BadParameter("HTTPS needs both --tls-cert-file and --tls-key-file", param_hint=missing)
    tls = ServerTls(cert_file, key_file)
    try:
        tls.check()
    except TlsFileError as exc:
        raise click.BadParameter(str(exc), param_hint="--tls-cert-file / --tls-key-file") from exc
    return tls


@click.group(invoke_without_command=True)
@settings_options
@click.option(
    "--host",
    envvar="VITALS_DASHBOARD_HOST",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on (env VITALS_DASHBOARD_HOST). Beyond loopback, dashboard.yaml needs users "
    "or oidc (or --insecure-no-auth).",
)
@click.option(
    "--port",
    envvar="VITALS_DASHBOARD_PORT",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on (env VITALS_DASHBOARD_PORT).",
)
@click.option(
    "--tls-cert-file",
    envvar="VITALS_DASHBOARD_TLS_CERT_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="PEM certificate chain: serve HTTPS only (env VITALS_DASHBOARD_TLS_CERT_FILE; with --tls-key-file).",
)
@click.option(
    "--tls-key-file",
    envvar="VITALS_DASHBOARD_TLS_KEY_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="PEM private key of --tls-cert-file, unencrypted (env VITALS_DASHBOARD_TLS_KEY_FILE).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    envvar="VITALS_INSECURE_NO_AUTH",
    help="Allow a non-loopback --host with no users or oidc in dashboard.yaml: anyone who can reach "
    "the port then sees every page as an engineer, acknowledges alerts and creates silences "
    "(env VITALS_INSECURE_NO_AUTH).",
)
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Bring the store's schema up to date before starting (as vitals serve does).",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="TIME",
    help="Show the store as it was at TIME (ISO 8601, UTC unless it has an offset) instead of following "
    "the clock, e.g. history generated with `vitals simulate --now`. Acknowledgements and silences "
    "still happen at the real time.",
)
@click.pass_context
def dashboard(
    ctx: click.Context,
    *,
    settings: Settings,
    host: str,
    port: int,
    tls_cert_file: Path | None,
    tls_key_file: Path | None,
    insecure_no_auth: bool,
    migrate: bool,
    now_text: str | None,
) -> None:
    """Run the Streamlit dashboard over the store (read-only; acks and silences go through alerts).

    Reads the same --db and --config as `vitals serve`; users, roles and refresh settings come
    from dashboard.yaml in the config directory. Headless: open the printed address yourself.
    """
    if ctx.invoked_subcommand is not None:
        return
    from dashboards import config as dashboard_config
    from dashboards import timerange
    from vitals.kernel.configfile import ConfigError

    try:
        config = dashboard_config.load(settings.config_dir)
    except ConfigError as exc:
        raise click.ClickException(f"the dashboard config has errors:\n{exc}") from exc
    tls = _tls(tls_cert_file, tls_key_file)
    if not _is_loopback(host) and config.auth_mode == "none":
        where = settings.config_dir / dashboard_config.FILE_NAME
        if not insecure_no_auth:
            raise click.UsageError(
                f"refusing to listen on {host} without users: anyone who reaches it would see every "
                f"page. Add users (see `vitals dashboard hash-password`) or oidc to {where}, listen on "
                "127.0.0.1, or pass --insecure-no-auth (env VITALS_INSECURE_NO_AUTH) to allow it."
            )
        click.secho(
            f"warning: listening on {host} without users (--insecure-no-auth): anyone who reaches it "
            f"sees every page. Add users or oidc to {where}.",
            fg="yellow",
            err=True,
        )
    if config.auth_mode == "oidc" and not oidc_secrets_found(Path.cwd(), Path.home()):
        click.secho(
            "warning: dashboard.yaml has oidc: but no .streamlit/secrets.toml with an [auth] section "
            f"was found in {Path.cwd()} or {Path.home()}: signing in will fail "
            "(see docs/how-to/dashboard-access.md).",
            fg="yellow",
            err=True,
        )
    if migrate:
        from sqlalchemy.exc import SQLAlchemyError

        from vitals.kernel.db import create_engine
        from vitals.kernel.db import migrate as run_migrations

        try:
            engine = create_engine(settings.db_url)
            run_migrations(engine)
            engine.dispose()
        except SQLAlchemyError as exc:
            raise click.ClickException(f"cannot open the store {_safe_url(settings.db_url)}: {exc}") from exc
    env = {**os.environ, ENV_DB: settings.db_url, ENV_CONFIG: str(settings.config_dir)}
    if now_text:
        try:
            timerange.parse_now(now_text)
        except timerange.RangeError as exc:
            raise click.BadParameter(str(exc), param_hint="--now") from exc
        env[timerange.ENV_NOW] = now_text
    scheme = "https" if tls else "http"
    click.echo(
        f"Vitals dashboard: {scheme}://{host}:{port}/  (store {_safe_url(settings.db_url)}, "
        f"config {settings.config_dir}, login: {config.auth_mode})",
        err=True,
    )
    argv = streamlit_argv(host, port, tls)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: Ctrl-C and SIGTERM reach Streamlit directly and stop it cleanly.
    os.execve(sys.executable, argv, env)


@dashboard.command("hash-password")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@click.option("--username", default="USERNAME", help="Used only in the printed dashboard.yaml snippet.")
@click.option(
    "--role",
    type=click.Choice(["executive", "engineer", "admin"]),
    default="engineer",
    show_default=True,
    help="Used only in the printed snippet.",
)
def hash_password_command(password_stdin: bool, username: str, role: str) -> None:
    """Print a bcrypt hash of a password for dashboard.yaml (the password itself is never stored)."""
    from dashboards.auth import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(hashed)
    snippet = f"users:\n  - username: {username}\n    role: {role}\n    password_hash: '{hashed}'"
    click.echo(f"\n# dashboard.yaml\n{snippet}", err=True)


@dashboard.command("check")
@settings_options
def check(settings: Settings) -> None:
    """Validate dashboard.yaml in the config directory; errors name file, line and field."""
    from dashboards import config as dashboard_config
    from vitals.kernel.configfile import ConfigError

    path = settings.config_dir / dashboard_config.FILE_NAME
    try:
        config = dashboard_config.load(settings.config_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    where = str(path) if path.exists() else f"{path} (absent: defaults)"
    click.echo(
        f"{where}: ok · login {config.auth_mode} · {len(config.users)} users · refresh {config.refresh:g}s"
    )
