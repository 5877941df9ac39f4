"""The pure helpers of ``bench/cold_start.py``: taking the reference's modules out of the lab text and patching them,
the Cloud Tasks stand-in's ready line, the ratios and the identities the probes send. No timing here (the figures
are the benchmark's own output), and no reference text: the lab text is not in a user's clone, so these tests make
their own, shaped as it is."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from bench import cold_start as cs

#: A lab text shaped as the reference's: prose, the AWS order service, other code blocks, the GCP function.
LAB_TEXT = """
## Part 2: Lambda functions

Create `functions/order-service/app.py`:
```python
from aws_lambda_powertools.metrics import MetricUnit

def count(metrics):
    metrics.add_metric(name="OrdersCreated", unit=MetricUnit.None, value=1)
```

Create `functions-azure/OrderProcessor/index.js`:
```javascript
module.exports = async function (context, req) {};
```

### Google Cloud Functions Implementation

Create `functions-gcp/order_processor/main.py`:
```python
import json
import os

PROJECT_ID = os.environ.get('GCP_PROJECT')

def handle_order_event(cloud_event):
    message_data = base64.b64decode(cloud_event.data["message"]["data"])
    return json.loads(message_data)
```

## Part 5: Deployment
"""


class _Event:
    def __init__(self, payload: dict[str, object]) -> None:
        self.data = {"message": {"data": base64.b64encode(json.dumps(payload).encode()).decode()}}


def test_the_gcp_module_is_taken_from_its_own_block_with_base64_imported_and_nothing_else_changed() -> None:
    code = cs.extract_reference_gcp(LAB_TEXT)
    assert code.splitlines()[:3] == ["import base64", "import json", "import os"]
    block = "Create `functions-gcp/order_processor/main.py`:\n```python\n"
    original = LAB_TEXT.split(block, maxsplit=1)[1].split("\n```", maxsplit=1)[0]
    assert code.replace("import base64\n", "", 1) == original
    assert "MetricUnit" not in code and "module.exports" not in code


def test_the_patched_gcp_module_runs_its_pub_sub_function_where_the_original_raises_name_error() -> None:
    patched: dict[str, object] = {}
    exec(compile(cs.extract_reference_gcp(LAB_TEXT), "main.py", "exec"), patched)
    handle = patched["handle_order_event"]
    assert callable(handle)
    assert handle(_Event({"orderId": "o-1", "status": "PENDING"})) == {"orderId": "o-1", "status": "PENDING"}

    original: dict[str, object] = {}
    exec(compile(cs.extract_module(LAB_TEXT, cs._GCP_BLOCK, "main.py", ()), "main.py", "exec"), original)
    unpatched = original["handle_order_event"]
    assert callable(unpatched)
    with pytest.raises(NameError, match="base64"):
        unpatched(_Event({"orderId": "o-1"}))


def test_each_reference_has_exactly_the_listed_patches() -> None:
    assert [(p.pattern, p.replacement) for p in cs.GCP_REFERENCE_PATCHES] == [
        (r"^import json$", "import base64\nimport json")
    ]
    assert [(p.pattern, p.replacement) for p in cs.AWS_REFERENCE_PATCHES] == [
        (r"\bMetricUnit\.None\b", "MetricUnit.NoUnit")
    ]
    assert "base64" in cs.GCP_REFERENCE_PATCHES[0].why


def test_the_aws_module_gets_its_compile_error_patched_and_nothing_else() -> None:
    code = cs.extract_reference(LAB_TEXT)
    assert 'metrics.add_metric(name="OrdersCreated", unit=MetricUnit.NoUnit, value=1)' in code
    assert "MetricUnit.None" not in code and "import json" not in code


def test_a_lab_text_without_the_block_or_where_a_patch_does_not_match_once_is_refused() -> None:
    without_gcp = LAB_TEXT.split("### Google Cloud", maxsplit=1)[0]
    with pytest.raises(cs.BenchError, match=r"no `functions-gcp/order_processor/main\.py` code block"):
        cs.extract_reference_gcp(without_gcp)
    without_json = LAB_TEXT.replace("import json\nimport os", "import os")
    with pytest.raises(cs.BenchError, match=r"expected one match of '\^import json\$' to patch, found 0"):
        cs.extract_reference_gcp(without_json)
    fixed_upstream = LAB_TEXT.replace("unit=MetricUnit.None", "unit=MetricUnit.Count")
    with pytest.raises(cs.BenchError, match="found 0"):
        cs.extract_reference(fixed_upstream)


def test_a_patch_that_leaves_the_module_broken_is_refused() -> None:
    broken = (cs.Patch(r"^import os$", "import os as", "a patch gone wrong"),)
    with pytest.raises(cs.BenchError, match="does not compile after its patches"):
        cs.extract_module(LAB_TEXT, cs._GCP_BLOCK, "main.py", broken)


def test_the_stand_ins_ready_line_gives_its_port_and_anything_else_is_an_error() -> None:
    assert cs.ready_port("ready 39561\n") == 39561
    assert cs.ready_port("ready 1") == 1
    for line in ("Traceback (most recent call last):\n", "ready 0\n", "ready 65536", "ready", "(nothing in 30 s)"):
        with pytest.raises(cs.BenchError, match="did not start"):
            cs.ready_port(line)


def test_ratios_are_of_the_medians_and_absent_when_a_side_was_not_measured() -> None:
    ours = cs.Timing("ours", (0.100, 0.300, 0.200))
    reference = cs.Timing("reference", (0.400, 0.500, 0.900, 0.300))
    assert ours.median_ms == pytest.approx(200.0)
    assert reference.median_ms == pytest.approx(450.0)
    assert cs._ratio(ours, reference) == "0.444"
    assert cs._ratio(None, reference) == "n/a"
    assert cs._ratio(ours, None) == "n/a"


def test_the_identities_the_probes_send_are_user_1_as_a_customer() -> None:
    principal = json.loads(base64.b64decode(cs.AZURE_PRINCIPAL))
    claims = {c["typ"]: c["val"] for c in principal["claims"]}
    assert claims == {
        "http://schemas.microsoft.com/identity/claims/objectidentifier": "user-1",
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/role": "customer",
    }
    assert principal["role_typ"] == "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    assert json.loads(base64.urlsafe_b64decode(cs.GCP_USERINFO)) == {"sub": "user-1", "roles": ["customer"]}


def test_our_topics_are_the_ones_the_gcp_settings_name() -> None:
    assert cs.GCP_TOPICS == ("order-events", "runtime", "dead-letters", "notifications", "locations")


def test_every_command_runs_once_per_round_with_its_own_environment(tmp_path: Path) -> None:
    log = tmp_path / "rounds.log"
    append = f"import os; open({str(log)!r}, 'a').write(os.environ['PROBE'] + ' ')"
    commands = {
        "a": ([sys.executable, "-c", append], {"PROBE": "a"}),
        "b": ([sys.executable, "-c", append], {"PROBE": "b"}),
    }
    timings = cs._interleaved(commands, runs=2, warmup=1)
    assert log.read_text().split() == ["a", "b"] * 3  # the warm-up round, then the two measured ones
    assert [(t.name, len(t.seconds)) for t in timings] == [("a", 2), ("b", 2)]


def test_a_command_that_fails_stops_the_measurement_with_its_error() -> None:
    commands = {"fails": ([sys.executable, "-c", "raise SystemExit('no 201')"], {})}
    with pytest.raises(cs.BenchError, match="fails failed:\nno 201"):
        cs._interleaved(commands, runs=1, warmup=0)


# -- the stand-ins are stopped when the run is interrupted while they start -------------------------------------------


def _fake_server(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that records its process id and then never says it is ready (a stand-in still starting)."""
    pid_file = tmp_path / "server.pid"
    fake = tmp_path / "fake-server"
    fake.write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\nexec sleep 60\n', encoding="utf-8")
    fake.chmod(0o755)
    return fake, pid_file


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stand_in", ["moto", "cosmos", "cloud tasks"])
def test_a_stand_in_still_starting_is_stopped_when_the_run_is_interrupted(
    stand_in: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, pid_file = _fake_server(tmp_path)
    if stand_in == "cosmos":
        (tmp_path / "node" / "node_modules" / "@vercel" / "cosmosdb-server").mkdir(parents=True)
        monkeypatch.setattr(cs, "AZURE_NODE", tmp_path / "node")
        monkeypatch.setattr(cs.shutil, "which", lambda name: str(fake))
    start = {
        "moto": lambda: cs._start_moto(str(fake)),
        "cosmos": cs._start_cosmos,
        "cloud tasks": lambda: cs._start_tasks_stand_in(str(fake), tmp_path),
    }[stand_in]

    def ctrl_c(*_: object) -> None:  # Ctrl-C once the server process runs (SIGINT's KeyboardInterrupt)
        if pid_file.exists() and pid_file.read_text().strip():
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ctrl_c)
    signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
    try:
        with pytest.raises(KeyboardInterrupt):
            start()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid = int(pid_file.read_text())
    try:
        assert not _alive(pid), f"the {stand_in} stand-in (pid {pid}) was left running"
    finally:
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def test_an_interpreter_that_is_not_there_lacks_every_module(tmp_path: Path) -> None:
    # --azure-python / --gcp-python naming no file: the cloud is left out with a line, not a FileNotFoundError
    assert cs._has_module(str(tmp_path / "no-such-python"), "json") is False
    assert cs._has_module(sys.executable, "json") is True
    assert cs._has_module(sys.executable, "no_such_module_here") is False


@pytest.mark.parametrize(("argv", "error"), [(["--runs", "0"], "--runs"), (["--warmup", "-1"], "--warmup")])
def test_run_counts_that_cannot_measure_are_refused_before_anything_starts(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # --runs 0 used to start every stand-in and crash at the end (ZeroDivisionError, an empty median)
    with pytest.raises(SystemExit) as stopped:
        cs.main([*argv, "--python", "/no/such/python"])
    assert stopped.value.code == 2
    assert error in capsys.readouterr().err


def test_the_stores_are_checked_after_the_measured_runs_too(tmp_path: Path) -> None:
    # a POST probe that answers fine but writes its order on its first run only (a cached or refused write would
    # flatter its side): the check after the first run passes; the one after the measured runs must not
    store = tmp_path / "orders"
    post = f"import pathlib; p = pathlib.Path({str(store)!r}); p.exists() or p.write_text('order\\n')"
    count = (
        f"import pathlib, sys; n = len(pathlib.Path({str(store)!r}).read_text().split()); "
        "assert n == int(sys.argv[1]), n"
    )
    groups = [({"POST": [sys.executable, "-c", post]}, {})]
    checks: list[cs.Check] = [("checking the orders", sys.executable, count, [cs.RUNS], {})]
    after = r"checking the orders \(after the measured runs: 4 run\(s\) of each POST\) failed"
    with pytest.raises(cs.BenchError, match=after):
        cs._measure(groups, checks, "perf_counter", runs=2, warmup=1)

    store.unlink()
    writes = f"open({str(store)!r}, 'a').write('order\\n')"
    timings = cs._measure([({"POST": [sys.executable, "-c", writes]}, {})], checks, "perf_counter", runs=2, warmup=1)
    assert len(timings["POST"].seconds) == 2
    assert store.read_text().split() == ["order"] * 4  # the first run, the warm-up, the two measured


def test_the_emulators_write_nothing_outside_the_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a gcloud that records what it was asked and with which settings, then exits
    calls = tmp_path / "calls"
    fake = tmp_path / "gcloud"
    fake.write_text(f'#!/bin/sh\necho "$CLOUDSDK_CORE_DISABLE_FILE_LOGGING $*" >> "{calls}"\n', encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setattr(cs.shutil, "which", lambda name: str(fake))
    folder = tmp_path / "run"
    folder.mkdir()
    for emulator in cs._launch_gcp_emulators(folder):
        emulator.proc.wait(timeout=10)
    lines = calls.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["true", "true"]  # no log file under ~/.config/gcloud/logs
    data_dirs = [a.split("=", 1)[1] for line in lines for a in line.split() if a.startswith("--data-dir=")]
    assert data_dirs == [str(folder / "pubsub")]  # the Pub/Sub emulator's env.yaml (default ~/.config/gcloud/...)
    assert (folder / "pubsub").is_dir()  # gcloud fails ("Unable to write file") when it is not there


def test_a_users_proxy_neither_answers_for_a_stand_in_nor_carries_the_calls_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # http_proxy to a port where nothing listens: the bench's own wait must go straight to the emulator
    import http.server

    nothing = socket.socket()
    nothing.bind(("127.0.0.1", 0))
    dead_proxy = f"http://127.0.0.1:{nothing.getsockname()[1]}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "log").write_text("(the emulator's log)\n", encoding="utf-8")
        emulator = cs._Emulator("fake", idle, f"127.0.0.1:{server.server_port}", tmp_path / "log")
        cs._wait_http(emulator, timeout=5)  # answers 501: up
    finally:
        idle.kill()
        idle.wait()
        server.server_close()
        nothing.close()

    # and the measured processes reach loopback directly (the user's own entries kept)
    env = cs._loopback_unproxied({"https_proxy": dead_proxy, "no_proxy": "corp.example"})
    assert env["no_proxy"] == "corp.example,127.0.0.1,localhost"
    assert env["NO_PROXY"] == "127.0.0.1,localhost"
    assert cs._loopback_unproxied(env) == env


def test_a_stand_in_that_exits_before_it_answers_is_said_to_have_exited_at_once(tmp_path: Path) -> None:
    # an emulator that cannot start (its port taken, a missing component): its log and status, not "did not answer
    # in 90 s"; moto's start the same, not a 30-s wait
    log = tmp_path / "pubsub-emulator.log"
    log.write_text("ERROR: (gcloud.beta.emulators.pubsub.start) Unable to write file\n", encoding="utf-8")
    exits = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    exits.wait()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    emulator = cs._Emulator("pubsub", exits, f"127.0.0.1:{port}", log)
    with pytest.raises(cs.BenchError, match=r"pubsub emulator exited \(status 3\) before it answered:\nERROR"):
        cs._wait_http(emulator, timeout=60)

    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 4\n", encoding="utf-8")
    fake.chmod(0o755)
    with pytest.raises(cs.BenchError, match=r"moto server exited \(status 4\) before it answered"):
        cs._start_moto(str(fake))


def test_a_measured_program_ends_when_it_is_done_not_when_the_interpreter_has_finished(tmp_path: Path) -> None:
    # a thread the interpreter joins at exit (as the Cosmos DB SDK's endpoint health check): without ANSWERED the
    # program's time would run until the thread ends, 60 s here, past the timeout
    lingering = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\nprint('answered')"
    program = cs._write(tmp_path, "probe.py", lingering)
    assert program.read_text(encoding="utf-8").endswith(cs.ANSWERED)
    for command in ([sys.executable, str(program)], [sys.executable, "-c", cs.answered(lingering)]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
        assert (done.returncode, done.stdout) == (0, "answered\n")  # what it printed is flushed before it leaves


def test_a_measured_program_whose_check_fails_still_fails_with_its_error() -> None:
    done = subprocess.run(
        [sys.executable, "-c", cs.answered("r = 500\nassert r == 201, r")],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 1
    assert "AssertionError: 500" in done.stderr


def test_the_paired_comparison_ends_every_probe_at_its_answer_as_the_benchmark_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # bench/_cold_start_ab.py measures cold_start.py's probes; its "module loaded" was a bare -c import that ran on to
    # the interpreter's exit while its GET and POST probes (written by _write) ended at their answer
    from bench import _cold_start_ab as ab

    measured: list[str] = []

    def run(python: str, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
        measured.append(argv[1] if argv[0] == "-c" else Path(argv[0]).read_text(encoding="utf-8"))
        return 1.0, 1.0

    monkeypatch.setattr(ab.cs, "_start_moto", lambda python: (None, "http://127.0.0.1:9"))
    monkeypatch.setattr(ab.cs, "_stop", lambda proc: None)
    monkeypatch.setattr(ab.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "", ""))
    monkeypatch.setattr(ab, "_run", run)
    assert ab.main([sys.executable, sys.executable, "--pairs", "1"]) == 0
    assert len(measured) == 3 * 4  # 3 probes x (2 warm-up + 2 paired runs)
    assert [code.endswith(ab.cs.ANSWERED) for code in measured] == [True] * 12
