"""The stderr scanner: structured lines, raw, chained and grouped tracebacks, incremental reads,
the genuine output of uvicorn and asyncio for an app with no error boundary, the genuine
crash output of python3, node, java and rustc-built programs (run here as subprocesses),
Go panics (fixtures), and user patterns."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.observe import StderrScanner, scan_stderr
from harness.observe.stderr_scan import compile_patterns
from harness.provision.ready import wait_until


def _formatted(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _raised(factory: type[BaseException], *args: object) -> BaseException:
    """A real raised exception, with a real traceback."""
    try:
        raise factory(*args)
    except BaseException as exc:  # noqa: BLE001 - returned for formatting
        return exc


def _chained(explicit: bool) -> BaseException:
    """RuntimeError raised while handling a raised KeyError: ``from`` it, or implicitly."""
    try:
        try:
            {}["missing"]  # noqa: B018 - raises on purpose
        except KeyError as inner:
            if explicit:
                raise RuntimeError("lookup failed") from inner
            raise RuntimeError("while handling")  # noqa: B904 - the implicit chain is the point
    except RuntimeError as exc:
        return exc
    raise AssertionError("unreachable")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.log"
    path.write_text(text)
    return path


def test_structured_lines_count_and_tracebacks_inside_json_do_not(tmp_path: Path) -> None:
    """JSON lines with event unhandled_error count once each, even with a traceback inside;
    other JSON events and plain log lines count nothing."""
    tb = _formatted(_raised(ValueError, "x"))
    lines = [
        json.dumps({"event": "unhandled_error", "class": "database", "traceback": tb}),
        json.dumps({"event": "request", "status": 500}),
        json.dumps({"event": "unhandled_error", "class": "task"}),
        "INFO:     Application startup complete.",
        '{"not json',
    ]
    assert scan_stderr(_write(tmp_path, "\n".join(lines) + "\n")) == 2


def test_raw_and_chained_tracebacks_count_once_each(tmp_path: Path) -> None:
    """A plain traceback counts 1; an explicit (from) and an implicit (during handling) chain
    each count 1, not one per section; two separate errors in a row count 2."""
    plain = _formatted(_raised(KeyError, "a"))
    caused = _formatted(_chained(explicit=True))
    during = _formatted(_chained(explicit=False))
    assert "direct cause" in caused and "During handling" in during
    text = "INFO: started\n" + plain + caused + "some log line\n" + during + plain
    assert scan_stderr(_write(tmp_path, text)) == 4


def test_exception_group_counts_once(tmp_path: Path) -> None:
    """An ExceptionGroup with two sub-exceptions (each with its own inner traceback) is 1 error."""
    group = ExceptionGroup("many", [_raised(ValueError, "1"), _raised(TypeError, "2")])
    text = _formatted(_raised(ExceptionGroup, "many", [*group.exceptions]))
    assert text.count("Traceback (most recent call last)") >= 3
    assert scan_stderr(_write(tmp_path, text)) == 1


def test_indented_traceback_text_is_not_a_header(tmp_path: Path) -> None:
    """A traceback quoted with indentation (e.g. in a multi-line message) is not counted."""
    quoted = "".join("    " + line + "\n" for line in _formatted(_raised(ValueError)).splitlines())
    assert scan_stderr(_write(tmp_path, quoted)) == 0


def test_incremental_scan_waits_for_complete_lines_and_survives_truncation(tmp_path: Path) -> None:
    """Appended text is read once; a half-written header is not counted until its newline;
    a truncated file is re-read from the start; a second file adds to the total."""
    path = tmp_path / "app.log"
    scanner = StderrScanner()
    assert scanner.total_or_none is None
    path.write_text("Traceback (most rec")
    assert scanner.scan(path) == 0
    with path.open("a") as fh:
        fh.write("ent call last):\n  File \"x.py\", line 1\nValueError: v\n")
    assert scanner.scan(path) == 1
    assert scanner.scan(path) == 1  # nothing new: nothing counted twice
    path.write_text(json.dumps({"event": "unhandled_error"}) + "\n")  # shrank: replaced
    assert scanner.scan(path) == 1
    other = tmp_path / "app-2.log"
    other.write_text(_formatted(_raised(KeyError, "z")))
    assert scanner.scan(other) == 2
    assert scan_stderr(_write(tmp_path, "Traceback (most recent call last):")) == 1  # final


def test_real_uvicorn_and_asyncio_output_is_counted(serve_script: Callable[..., Any]) -> None:
    """Real uvicorn serving an app with no boundary: a raising handler, a chained raise, a
    dropped failing task and one structured line make exactly 4 errors; startup logs make 0."""
    served = serve_script("crashy_asgi.py", "crashy")
    log = served.child.log_path
    wait_until(lambda: "Application startup complete" in log.read_text(), 15.0,
               what="uvicorn startup", on_timeout=served.child.log_tail)
    assert scan_stderr(log) == 0
    with httpx.Client(base_url=served.url, timeout=5.0, trust_env=False) as client:
        assert client.get("/boom").status_code == 500
        assert client.get("/chained").status_code == 500
        assert client.get("/task").status_code == 200
        assert client.get("/json").status_code == 200
    # the whole of asyncio's report, down to its last line (the log is written a line at a
    # time by the child's log pump: its header alone may be there first)
    wait_until(lambda: "RuntimeError: background task failed" in log.read_text(), 5.0,
               what="asyncio's task error", on_timeout=served.child.log_tail)
    text = log.read_text()
    assert text.count("Exception in ASGI application") == 2
    assert "direct cause" in text
    assert scan_stderr(log) == 4, text


# -- real output of other runtimes ---------------------------------------------------------

_NODE = shutil.which("node")
_needs_node = pytest.mark.skipif(_NODE is None, reason="node is not installed on this machine")


def _run_into(log: Path, argv: Sequence[str], *, cwd: Path | None = None) -> int:
    """Run ``argv`` with stdout and stderr appended to ``log`` (as a supervisor would); its rc."""
    with log.open("ab") as out:
        return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                              timeout=60, check=False).returncode


def _python(tmp_path: Path, log: Path, source: str) -> int:
    script = tmp_path / "svc.py"
    script.write_text(source)
    return _run_into(log, [sys.executable, str(script)])


def _node(tmp_path: Path, log: Path, source: str, *flags: str) -> int:
    assert _NODE is not None
    script = tmp_path / "svc.js"
    script.write_text(source)
    return _run_into(log, [_NODE, *flags, str(script)])


_PY_MAIN = """
def load():
    raise KeyError("config")
try:
    load()
except KeyError as exc:
    raise RuntimeError("startup failed") from exc
"""
_PY_THREAD = """
import threading, time
def work():
    raise ValueError("in worker")
t = threading.Thread(target=work)
t.start(); t.join()
print("main goes on", flush=True)
"""
_PY_TASK = """
import asyncio, gc
async def boom():
    raise ValueError("dropped task")
async def main():
    task = asyncio.get_running_loop().create_task(boom())
    await asyncio.sleep(0.05)
    del task
    gc.collect()
asyncio.run(main())
"""


def test_real_python_crashes_count_one_each(tmp_path: Path) -> None:
    """python3 run for real: an uncaught (chained) exception in main, one in a thread, and a
    dropped asyncio task's 'Task exception was never retrieved' are 1 error each."""
    log = tmp_path / "app.log"
    scanner = StderrScanner()
    assert _python(tmp_path, log, _PY_MAIN) == 1
    assert "direct cause" in log.read_text()
    assert scanner.scan(log, final=True) == 1
    assert _python(tmp_path, log, _PY_THREAD) == 0
    assert "Exception in thread Thread-1" in log.read_text()
    assert scanner.scan(log, final=True) == 2
    assert _python(tmp_path, log, _PY_TASK) == 0
    text = log.read_text()
    assert "Task exception was never retrieved" in text
    assert scanner.scan(log, final=True) == 3, text


def test_real_python_clean_output_counts_nothing(tmp_path: Path) -> None:
    """Warnings, log lines that merely name an error, and a deliberate non-zero exit are not
    unhandled errors."""
    log = tmp_path / "app.log"
    source = """
import logging, sys, warnings
logging.basicConfig()
warnings.warn("old API", DeprecationWarning, stacklevel=1)
warnings.warn("careful")
print("Error: handled, retrying")
logging.error("ValueError: bad input from client, rejected")
try:
    int("x")
except ValueError as exc:
    print(f"handled {exc!r}", file=sys.stderr)
sys.exit(3)
"""
    assert _python(tmp_path, log, source) == 3
    text = log.read_text()
    assert "UserWarning: careful" in text and "Error: handled" in text
    assert scan_stderr(log) == 0, text


_NODE_CRASHES = {
    "uncaught exception": 'setTimeout(() => { throw new TypeError("late") }, 1);',
    "uncaught exception with a cause": (
        'throw new Error("outer", { cause: new Error("inner") });'
    ),
    "uncaught AggregateError": (
        'throw new AggregateError([new Error("a"), new Error("b")], "several");'
    ),
    "thrown non-Error": 'throw "a bare string";',
    "rejection with an Error": (
        'async function f() { throw new RangeError("async boom"); } f();'
    ),
    "rejection with a string": 'Promise.reject("just a string");',
    "rejection with an object": "Promise.reject({ code: 42 });",
}


@_needs_node
@pytest.mark.parametrize("source", _NODE_CRASHES.values(), ids=_NODE_CRASHES.keys())
def test_real_node_crash_counts_once(tmp_path: Path, source: str) -> None:
    """node run for real (no process.on handler): each crash is 1 error, however many Error:,
    stack, [cause] and [errors] lines its report has."""
    log = tmp_path / "app.log"
    assert _node(tmp_path, log, source) != 0
    text = log.read_text()
    assert re.search(r"^Node\.js v\d+\.\d+\.\d+$", text, re.MULTILINE), text
    assert scan_stderr(log) == 1, text


@_needs_node
def test_two_node_crashes_in_one_log_count_two(tmp_path: Path) -> None:
    """A crash, a restart appending to the same log, another crash: 2, read incrementally."""
    log = tmp_path / "app.log"
    scanner = StderrScanner()
    assert _node(tmp_path, log, 'console.log("up"); throw new Error("first");') != 0
    assert scanner.scan(log) == 1
    assert _node(tmp_path, log, 'console.log("up"); Promise.reject(new Error("second"));') != 0
    assert scanner.scan(log) == 2
    assert scanner.scan(log, final=True) == 2


@_needs_node
def test_real_node_warn_mode_rejections_count_once_each(tmp_path: Path) -> None:
    """--unhandled-rejections=warn keeps the process alive and prints two warning lines per
    rejection: an Error and a string rejection are 2; one handled late is still counted
    (the PromiseRejectionHandledWarning does not subtract), so 3."""
    log = tmp_path / "app.log"
    source = """
Promise.reject(new Error("y"));
Promise.reject("s");
const late = Promise.reject(new Error("handled late"));
setTimeout(() => late.catch(() => {}), 10);
setTimeout(() => console.log("alive"), 50);
"""
    assert _node(tmp_path, log, source, "--unhandled-rejections=warn") == 0
    text = log.read_text()
    assert text.count("UnhandledPromiseRejectionWarning") == 6
    assert "PromiseRejectionHandledWarning" in text and "alive" in text
    assert scan_stderr(log) == 3, text


@_needs_node
def test_real_node_clean_output_counts_nothing(tmp_path: Path) -> None:
    """A handled error logged with console.error (its message and its whole stack), a warning,
    a deprecation warning and a deliberate non-zero exit are not unhandled errors."""
    log = tmp_path / "app.log"
    source = """
console.error("Error: handled");
console.warn("warning: slow upstream");
process.emitWarning("old API", "DeprecationWarning");
try { JSON.parse("{"); } catch (err) { console.error(err); }
Promise.reject(new Error("caught")).catch((err) => console.error("rejected:", err));
setTimeout(() => process.exit(3), 20);
"""
    assert _node(tmp_path, log, source) == 3
    text = log.read_text()
    assert "SyntaxError" in text and "    at " in text and "DeprecationWarning" in text
    assert scan_stderr(log) == 0, text


# Go: no toolchain on this machine, so these are written from the format Go's runtime prints
# (runtime/panic.go printpanics, runtime.throw, net/http's conn.serve recover) as of Go 1.21-1.25,
# with a real program's shape: header, optional [signal] line, blank, goroutine dumps.
_GO_CRASHES = """\
2024/05/01 10:00:00 listening on :8080
panic: something went wrong

goroutine 1 [running]:
main.main()
\t/home/app/main.go:8 +0x25
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47b8e2]

goroutine 1 [running]:
main.(*Server).handle(0x0)
\t/home/app/server.go:41 +0x22
main.main()
\t/home/app/main.go:12 +0x1d
panic: first [recovered]
\tpanic: second

goroutine 1 [running]:
main.main.func1()
\t/home/app/main.go:9 +0x65
panic({0x4a1f20?, 0x4d6c58?})
\t/usr/local/go/src/runtime/panic.go:785 +0x132
main.main()
\t/home/app/main.go:12 +0x4e
panic: PANIC [recovered, reraised]

goroutine 1 [running]:
main.main()
\t/home/app/main.go:7 +0x2c
fatal error: all goroutines are asleep - deadlock!

goroutine 1 [chan receive]:
main.main()
\t/home/app/main.go:5 +0x2d
fatal error: concurrent map writes

goroutine 18 [running]:
main.main.func1()
\t/home/app/main.go:10 +0x3c
created by main.main in goroutine 1
\t/home/app/main.go:8 +0x3a

goroutine 1 [sleep]:
time.Sleep(0x3b9aca00)
\t/usr/local/go/src/runtime/time.go:300 +0xf2
2024/05/01 10:00:09 http: panic serving 127.0.0.1:53912: assignment to entry in nil map
goroutine 6 [running]:
net/http.(*conn).serve.func1()
\t/usr/local/go/src/net/http/server.go:1898 +0xbe
panic({0x6c2e40?, 0x7f6b30?})
\t/usr/local/go/src/runtime/panic.go:785 +0x132
main.handler({0x7f9a28?, 0xc0000f6000?}, 0x0?)
\t/home/app/main.go:15 +0x25
"""


def test_go_panics_and_fatal_errors_count_once_each(tmp_path: Path) -> None:
    """Go fixtures, written from Go's documented output (no Go toolchain here to run them):
    a plain panic, a nil dereference with its [signal] line, a re-panic (indented second
    panic, and Go 1.25's one-line [recovered, reraised]), a deadlock, concurrent map writes
    with two goroutine dumps, and a handler panic net/http recovered: 7 errors, no more."""
    assert scan_stderr(_write(tmp_path, _GO_CRASHES)) == 7


def test_go_clean_output_counts_nothing(tmp_path: Path) -> None:
    """A panic the app recovered and logged (the word panic mid-line), a goroutine dump asked
    for on purpose, and log.Fatal's line are not counted."""
    text = (
        "2024/05/01 10:00:00 recovered from panic: boom\n"
        "level=error msg=\"fatal error: upstream down, retrying\"\n"
        "goroutine 1 [running]:\nmain.main()\n\t/home/app/main.go:8 +0x25\n"
        "2024/05/01 10:00:01 open config.yaml: no such file or directory\n"
    )
    assert scan_stderr(_write(tmp_path, text)) == 0


_JVM_CRASHES = """\
Exception in thread "main" java.lang.IllegalStateException: outer failed
\tat com.example.App.start(App.java:15)
\tat com.example.App.main(App.java:9)
\tSuppressed: java.io.IOException: close failed
\t\tat com.example.App.start(App.java:16)
\t\t... 1 more
Caused by: java.lang.IllegalArgumentException: inner bad
\tat com.example.App.inner(App.java:2)
\t... 2 more
Caused by: java.lang.NullPointerException
\tat com.example.App.deeper(App.java:3)
\t... 3 more
Exception in thread "pool-1-thread-3" java.lang.OutOfMemoryError: Java heap space
Exception in thread "main" kotlin.NotImplementedError: An operation is not implemented.
\tat MainKt.main(Main.kt:2)
Exception: java.lang.RuntimeException thrown from the UncaughtExceptionHandler in thread "worker"
"""


def test_jvm_uncaught_exceptions_count_once_each(tmp_path: Path) -> None:
    """JVM fixtures (the default handler's format): a main-thread exception with Suppressed and
    two Caused by sections, an OutOfMemoryError in a pool thread, a Kotlin one, and a handler
    that threw: 4 errors. A caught exception's printStackTrace() counts nothing."""
    assert scan_stderr(_write(tmp_path, _JVM_CRASHES)) == 4
    handled = (
        "java.lang.IllegalArgumentException: inner bad\n"
        "\tat com.example.App.inner(App.java:2)\n"
        "Caused by: java.io.IOException: Exception in thread pool\n"
        "12:00:01.003 ERROR c.e.App - Exception in thread \"worker\" was handled\n"
    )
    (tmp_path / "handled.log").write_text(handled)
    assert scan_stderr(tmp_path / "handled.log") == 0


_JAVA_SOURCE = """
public class Crash {
    static void inner() { throw new IllegalArgumentException("inner bad"); }
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        if (mode.equals("thread")) {
            Thread t = new Thread(() -> { throw new IllegalStateException("in thread"); }, "w-1");
            t.start();
            t.join();
            System.err.println("main continues");
        } else if (mode.equals("handled")) {
            try { inner(); } catch (RuntimeException e) { e.printStackTrace(); }
        } else {
            try { inner(); } catch (RuntimeException e) {
                throw new IllegalStateException("outer failed", e);
            }
        }
    }
}
"""


@pytest.mark.skipif(shutil.which("java") is None or shutil.which("javac") is None,
                    reason="java/javac are not installed on this machine")
def test_real_jvm_uncaught_exceptions_count_once_each(tmp_path: Path) -> None:
    """A real JVM: an exception escaping main (with a Caused by) and one escaping a thread
    are 1 each; a caught exception's printStackTrace() is 0."""
    (tmp_path / "Crash.java").write_text(_JAVA_SOURCE)
    subprocess.run(["javac", "Crash.java"], cwd=tmp_path, check=True, timeout=120)
    log = tmp_path / "app.log"
    scanner = StderrScanner()
    assert _run_into(log, ["java", "Crash", "handled"], cwd=tmp_path) == 0
    assert scanner.scan(log) == 0, log.read_text()
    assert _run_into(log, ["java", "Crash", "main"], cwd=tmp_path) != 0
    assert "Caused by:" in log.read_text()
    assert scanner.scan(log) == 1, log.read_text()
    assert _run_into(log, ["java", "Crash", "thread"], cwd=tmp_path) == 0
    assert scanner.scan(log, final=True) == 2, log.read_text()


_RUST_SOURCE = """
fn main() {
    let worker = std::thread::Builder::new().name("worker".into());
    let handle = worker.spawn(|| panic!("in thread")).unwrap();
    let _ = handle.join();
    eprintln!("main continues");
    let v: Vec<i32> = Vec::new();
    let i = std::env::args().count() + 2;
    println!("{}", v[i]);
}
"""


@pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc is not installed on this machine")
def test_real_rust_panics_count_once_each(tmp_path: Path) -> None:
    """A real Rust program (with and without RUST_BACKTRACE): a panic in a thread and one in
    main are 1 each; the older 'panicked at 'msg', file' format counts too."""
    (tmp_path / "svc.rs").write_text(_RUST_SOURCE)
    subprocess.run(["rustc", "-o", "svc", "svc.rs"], cwd=tmp_path, check=True, timeout=120,
                   capture_output=True)
    log = tmp_path / "app.log"
    assert _run_into(log, [str(tmp_path / "svc")]) != 0
    text = log.read_text()
    assert "panicked at" in text and "main continues" in text
    assert scan_stderr(log) == 2, text
    old = "thread 'main' panicked at 'explicit panic', src/main.rs:2:5\n"
    (tmp_path / "old.log").write_text(old)
    assert scan_stderr(tmp_path / "old.log") == 1


# -- user patterns -------------------------------------------------------------------------


def test_user_patterns_count_matching_lines_once(tmp_path: Path) -> None:
    """Each line any user pattern matches counts 1 (once, even if several patterns or a
    built-in match it), JSON lines included; the patterns survive a truncated log."""
    text = "\n".join([
        "2024-05-01 FATAL [main] engine stopped",        # pattern 1
        "level=crit msg=\"FATAL [db] pool exhausted\"",  # both patterns: 1
        '{"level": "crit", "msg": "x"}',                 # pattern 3 on a JSON line
        "panic: boom",                                   # built-in and pattern 2: 1
        "INFO all good",
    ]) + "\n"
    patterns = [r"FATAL \[", r"level=crit|^panic:", r'"level": "crit"']
    path = _write(tmp_path, text)
    assert scan_stderr(path) == 1  # only the Go panic without patterns
    assert scan_stderr(path, unhandled_error_patterns=patterns) == 4
    scanner = StderrScanner(unhandled_error_patterns=patterns)
    assert scanner.scan(path) == 4
    path.write_text("FATAL [x]\n")  # shrank: re-read with the same patterns
    assert scanner.scan(path) == 1


@pytest.mark.parametrize(("pattern", "reason"), [
    ("FATAL [unclosed", "unterminated character set"),
    ("(oops", "missing ), unterminated subpattern"),
    ("", "matches the empty string"),
    ("x*", "matches the empty string"),
])
def test_invalid_user_pattern_raises_value_error_naming_it(pattern: str, reason: str) -> None:
    """An invalid regex (or one that would count every line) is a ValueError that names the
    pattern and says why, from compile_patterns and from the scanner's constructor."""
    with pytest.raises(ValueError, match=re.escape(reason)) as info:
        compile_patterns(["ok", pattern])
    assert repr(pattern) in str(info.value)
    with pytest.raises(ValueError, match=re.escape(repr(pattern))):
        StderrScanner(unhandled_error_patterns=[pattern])


def test_compile_patterns_refuses_a_bare_string_and_non_strings() -> None:
    """A single string (which would be read as one pattern per character) and a non-string
    item are refused; a valid list compiles in order; none is fine."""
    with pytest.raises(ValueError, match="not a single string"):
        compile_patterns("FATAL")
    with pytest.raises(ValueError, match="42 is not a string"):
        compile_patterns(["ok", 42])  # type: ignore[list-item]
    assert [p.pattern for p in compile_patterns(["a", "b+"])] == ["a", "b+"]
    assert compile_patterns([]) == ()
