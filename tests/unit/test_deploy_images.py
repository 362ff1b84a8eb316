"""The service images, each built from services/Dockerfile with its service's build arguments, checked statically
(no Docker engine runs here): multi-stage, non-root, only the service, lib/ and data/ copied, the right commands,
every imported package installed, no build without a service; and the image's file layout,
rebuilt in a temporary folder, really runs `python -m <service> settings` and `migrate` with nothing else on the path.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from gridlink.devstack import DEFAULT_PORTS, SERVICES
from gridlink.runtime.config import REPO_ROOT

DOCKERFILE = REPO_ROOT / "services" / "Dockerfile"
# The instructions whose arguments the builder expands itself ($NAME, ${NAME}); RUN and CMD are left to the shell.
EXPANDED = {"ADD", "ARG", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}


def build_args(service: str) -> dict[str, str]:
    """What deploy/compose (and anyone building by hand) passes: `--build-arg SERVICE=… --build-arg HTTP_PORT=…`."""
    return {"SERVICE": service, "HTTP_PORT": str(DEFAULT_PORTS[service])}


def written_instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), " ".join(rest.split())))
    return result


def expand(text: str, known: dict[str, str]) -> str:
    """$NAME and ${NAME} replaced as the builder does; a name it would not know (PATH from the base image) stays."""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: known.get(m[1] or m[2], m[0]), text)


def instructions(args: dict[str, str]) -> list[tuple[str, str]]:
    """The instructions as `docker build` sees them given the build arguments `args`: an ARG takes its value in
    its own stage only (a global one, before the first FROM, in FROM lines), an ENV for the instructions after it."""
    global_scope: dict[str, str] = {}
    scope: dict[str, str] | None = None
    result = []
    for keyword, rest in written_instructions():
        if keyword == "FROM":
            rest, scope = expand(rest, global_scope), {}
        elif keyword in EXPANDED:
            rest = expand(rest, global_scope if scope is None else scope)
        if keyword == "ARG":
            name, has_default, default = rest.partition("=")
            inherited = default if has_default else global_scope.get(name, "")
            (global_scope if scope is None else scope)[name] = args.get(name, inherited)
        elif keyword == "ENV" and scope is not None:
            scope.update(pair.partition("=")[::2] for pair in rest.split())
        result.append((keyword, rest))
    return result


def stages(args: dict[str, str]) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(args):
        if keyword == "FROM":
            found.append([])
        elif not found:
            continue  # a global ARG
        found[-1].append((keyword, rest))
    return found


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            for pair in rest.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_multi_stage_slim_and_runs_as_a_numbered_non_root_user(service):
    build, final = stages(build_args(service))
    assert build[0][1].startswith("python:3.11-slim") and build[0][1].endswith(" AS build")
    assert final[0][1].startswith("python:3.11-slim")
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    # A numeric uid lets Kubernetes prove runAsNonRoot without reading /etc/passwd.
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit() and int(gid) >= 1000
    keywords = [keyword for keyword, _ in final]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k in ("COPY", "RUN"))
    assert "HEALTHCHECK" not in [keyword for keyword, _ in build + final], "Kubernetes probes do this"


@pytest.mark.parametrize("service", SERVICES)
def test_image_holds_only_its_service_the_library_and_the_data(service):
    copied = []
    for stage in stages(build_args(service)):
        for keyword, rest in stage:
            assert keyword != "ADD"
            if keyword == "COPY" and not rest.startswith("--from="):
                *sources, _dest = rest.split()
                copied.extend(sources)
    assert sorted(copied) == sorted(["requirements.lock", "lib/", f"services/{service}/{service}/", "data/"])
    for source in copied:
        assert (REPO_ROOT / source).exists(), source


def default_command(final: list[tuple[str, str]], tmp_path: Path) -> tuple[bool, list[str]]:
    """Runs the image's CMD (exec form) with only the image's ENV, a stand-in `python` first on the PATH; returns
    whether that python took over the started process (PID 1 in the container: it gets SIGTERM) and its arguments."""
    [cmd] = [json.loads(rest) for keyword, rest in final if keyword == "CMD"]
    stand_in = tmp_path / "bin" / "python"
    stand_in.parent.mkdir()
    stand_in.write_text('#!/bin/sh\nprintf "%s\\n" "$$" "$@"\n')
    stand_in.chmod(0o755)
    env = {key: value for key, value in env_of(final).items() if key != "PATH"}
    env["PATH"] = f"{stand_in.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    pid, *arguments = out.splitlines()
    return pid == str(process.pid), arguments


@pytest.mark.parametrize("service", SERVICES)
def test_container_runs_the_service_on_all_interfaces_at_its_port(service, tmp_path):
    final = stages(build_args(service))[-1]
    replaced_itself, arguments = default_command(final, tmp_path)
    assert arguments == ["-m", service, "run"]
    assert replaced_itself, "python is exec'd in place of the shell, so that it receives the container's signals"
    assert not [keyword for keyword, _ in final if keyword == "ENTRYPOINT"], "the migration Job swaps the command"
    env = env_of(final)
    assert env["HTTP_HOST"] == "0.0.0.0"
    assert env["HTTP_PORT"] == str(DEFAULT_PORTS[service])
    assert ("EXPOSE", str(DEFAULT_PORTS[service])) in final
    assert env["PYTHONPATH"] == f"/app/lib:/app/services/{service}"
    # The root filesystem is read-only in Kubernetes: SQLite fallbacks and temp files go to the /tmp volume.
    assert env["GRIDLINK_VAR_DIR"].startswith("/tmp/")


def guard(args: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs, with `args` as a RUN step gets them (environment variables), the build stage's RUN steps that check
    SERVICE before any other instruction uses it."""
    written = written_instructions()
    build = written[: [i for i, (keyword, _) in enumerate(written) if keyword == "FROM"][1]]
    first_use = next(
        i for i, (keyword, rest) in enumerate(build) if keyword not in ("ARG", "RUN") and "SERVICE" in rest
    )
    checks = [rest for keyword, rest in build[:first_use] if keyword == "RUN" and "$SERVICE" in rest]
    assert checks, "a RUN step checks SERVICE before an instruction uses it"
    return subprocess.run(
        ["sh", "-c", " && ".join(f"({check})" for check in checks)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **args},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"HTTP_PORT": "8001"},
        {"SERVICE": "", "HTTP_PORT": "8001"},
        {"SERVICE": "intake"},
        {"SERVICE": "intake", "HTTP_PORT": "http"},
    ],
)
def test_build_stops_without_a_service_or_its_port(args):
    """Without SERVICE, `COPY services/${SERVICE}/${SERVICE}/` would copy all of services/ into the image."""
    refused = guard(args)
    assert refused.returncode != 0
    assert f"--build-arg {'HTTP_PORT' if args.get('SERVICE') else 'SERVICE'}=" in refused.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_build_goes_on_with_a_service_and_its_port(service):
    accepted = guard(build_args(service))
    assert accepted.returncode == 0, accepted.stderr


def test_package_install_is_one_cached_layer_for_every_image():
    """A build argument changes the cache key of every RUN after its ARG line: none is declared before the install."""
    build = stages(build_args(SERVICES[0]))[0]
    install = next(i for i, (keyword, rest) in enumerate(build) if keyword == "RUN" and "pip install" in rest)
    assert "ARG" not in [keyword for keyword, _ in build[:install]]
    for service in SERVICES:
        assert stages(build_args(service))[0][: install + 1] == build[: install + 1]


def third_party_imports(*roots: Path) -> set[str]:
    stdlib = set(sys.stdlib_module_names)
    local = {"gridlink", *SERVICES}
    found = set()
    for root in roots:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                found.update(n.split(".")[0] for n in names if n.split(".")[0] not in stdlib | local)
    return found


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def with_dependencies(names: set[str]) -> set[str]:
    """The distributions pip installs for `names`: them and, recursively, what they require (extras aside).

    The install runs with `--constraint requirements.lock`, so a dependency pulled in this way is pinned too.
    """
    found, pending = set(), list(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requirements = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            if "extra ==" not in requirement:
                pending.append(normalised(re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_image_installs_every_package_its_code_imports(service):
    build = stages(build_args(service))[0]
    pip = next(rest for keyword, rest in build if keyword == "RUN" and "pip install" in rest)
    named = {normalised(word) for word in pip.split() if not word.startswith(("-", "/", "&"))}
    installed = with_dependencies(named)
    assert {"amqp", "vine"} <= installed, "kombu's own dependencies are installed with it"
    owners = importlib.metadata.packages_distributions()
    code = [REPO_ROOT / "lib" / "gridlink", REPO_ROOT / "services" / service / service]
    # devstack is the laptop runner (it is not imported by a running service) and may use dev-only packages.
    for module in sorted(third_party_imports(*code) - {"pytest"}):
        dists = {normalised(d) for d in owners.get(module, [module])}
        assert dists & installed, f"{service} imports {module} ({dists}) but its image does not install it"


def test_dockerignore_keeps_the_build_context_to_what_images_copy():
    lines = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "deny by default, then allow"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == {"requirements.lock", "lib/", "data/", "services/"}


def image_layout(service: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The image's /app rebuilt from the COPY lines (minus what .dockerignore drops), and the environment to run
    its code with -S, so that the editable install is invisible."""
    app = tmp_path / "app"
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO_ROOT / "lib", app / "lib", ignore=ignored)
    shutil.copytree(REPO_ROOT / "services" / service / service, app / "services" / service / service, ignore=ignored)
    shutil.copytree(REPO_ROOT / "data", app / "data")
    site_packages = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{app / 'lib'}:{app / 'services' / service}:{site_packages}",
        "GRIDLINK_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.sqlite3'}",
    }
    return app, env


@pytest.mark.parametrize("service", SERVICES)
def test_image_layout_runs_the_service_commands_with_nothing_else_on_the_path(service, tmp_path):
    app, env = image_layout(service, tmp_path)
    python = [sys.executable, "-S", "-m", service]
    shown = subprocess.run([*python, "settings"], env=env, cwd=app, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    settings = dict(line.split(" = ", 1) for line in shown.stdout.splitlines())
    assert settings["data_dir"] == str(app / "data" / "haibowan")
    migrated = subprocess.run([*python, "migrate"], env=env, cwd=app, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at head" in migrated.stdout
    assert (tmp_path / "service.sqlite3").stat().st_size > 0


def test_console_image_serves_the_static_assets_it_ships(tmp_path):
    """The console's stylesheet and script live in its package (console/static/), so the package COPY carries
    them; served from the rebuilt image layout, each answers 200 with its own bytes and type."""
    shipped = {p.name: p.stat().st_size for p in (REPO_ROOT / "services/console/console/static").iterdir()}
    assert {"console.css", "console.js"} <= set(shipped)
    app, env = image_layout("console", tmp_path)
    script = (
        "import sys\n"
        "from console.entrypoints.web import STATIC_DIR, static_file\n"
        "print(STATIC_DIR)\n"
        "for name in sys.argv[1:]:\n"
        "    r = static_file(name)\n"
        "    print(name, r.status_code, r.mimetype, len(r.get_data()))\n"
    )
    served = subprocess.run(
        [sys.executable, "-S", "-c", script, *sorted(shipped)],
        env=env,
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 0, served.stderr
    where, *lines = served.stdout.splitlines()
    assert where == str(app / "services/console/console/static")
    answers = {name: (int(status), kind, int(size)) for name, status, kind, size in map(str.split, lines)}
    assert answers["console.css"][:2] == (200, "text/css")
    assert answers["console.js"][0] == 200 and answers["console.js"][1].endswith("javascript")
    assert {name: size for name, (_s, _k, size) in answers.items()} == shipped
