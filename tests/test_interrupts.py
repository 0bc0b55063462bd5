"""Ctrl-C and SIGTERM as a user sends them: one line, the conventional exit status, never swallowed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from processes import child_env

# A test command, `swallowed`, whose `run` starts with BODY and then prints and returns 0.
_COMMAND = """
import gc, signal, sys, types
from pipelines import commands

class Bar:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)

def run(args):
BODY
    print("ran on to the end")
    return 0

module = types.ModuleType("pipelines.commands.swallowed_for_test")
module.add_arguments = lambda parser: None
module.run = run
sys.modules[module.__name__] = module
commands.COMMANDS["swallowed"] = ("swallowed_for_test", "a test command")
sys.exit(commands.main(sys.argv[1:]))
"""
# Its Ctrl-C lands in a `__del__` (as a progress bar's close does when it is collected): Python prints "Exception
# ignored" and goes on, so the command itself returns 0.
_SWALLOWED = _COMMAND.replace("BODY", "    Bar()\n    gc.collect()")
# Its Ctrl-C is raised inside code run from a string, as a dataclass being made on import runs it: CPython then marks
# the interrupt uncaught and, run as `python -m` (as `python -m pipelines` is), dies by SIGINT (-2) at exit though we
# caught it.
_INSIDE_EXEC = _COMMAND.replace("BODY", '    exec("signal.raise_signal(signal.SIGINT)")')


def test_a_ctrl_c_swallowed_by_a_del_still_ends_with_130():
    done = subprocess.run(
        [sys.executable, "-c", _SWALLOWED, "swallowed"], env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 130
    assert done.stderr.strip().splitlines()[-1] == "bark-vocos: interrupted (no partial output kept)"


def test_a_ctrl_c_raised_inside_exec_of_a_string_still_ends_with_130(tmp_path):
    (tmp_path / "interrupt_inside_exec.py").write_text(_INSIDE_EXEC)
    done = subprocess.run(
        [sys.executable, "-m", "interrupt_inside_exec", "swallowed"],
        env=child_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 130
    assert done.stderr.strip().splitlines() == ["bark-vocos: interrupted (no partial output kept)"]
    assert "ran on to the end" not in done.stdout


def test_ctrl_c_while_torch_imports_is_one_line_and_130(tiny_dir, tmp_path):
    command = [sys.executable, "-m", "pipelines", "say", "Hello.", "-o", str(tmp_path / "a.wav")]
    command += ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos"), "--no-progress"]
    process = subprocess.Popen(command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # past the light start (argument checks), inside the import of torch and transformers
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines() == ["bark-vocos: interrupted (no partial output kept)"]
    assert list(tmp_path.iterdir()) == []
