"""Safety: weights load with ``weights_only=True``; no pickle, eval, exec, shell or network in the
code a user's input can reach; the server binds to 127.0.0.1 unless told otherwise; the upload
limit, XSRF protection and the cross-origin check of .streamlit/config.toml take effect in a real
server. See docs/SECURITY.md."""
from __future__ import annotations

import ast
import asyncio
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from core.runtime import limits

ROOT = Path(__file__).resolve().parents[2]
APP_DIRS = ["core", "ui", "views"]  # code that runs in the server, with user input
APP_FILES = ["app.py"]


def _py_files(dirs: list[str], files: list[str] = ()) -> list[Path]:
    out = [ROOT / f for f in files if (ROOT / f).exists()]
    for d in dirs:
        out += sorted((ROOT / d).rglob("*.py"))
    return out


def _all_project_py() -> list[Path]:
    skip = {".venv", ".git", "node_modules", "__pycache__"}
    return sorted(p for p in ROOT.rglob("*.py") if not (set(p.relative_to(ROOT).parts) & skip)
                  and not p.relative_to(ROOT).parts[0].startswith("."))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, _dotted(node.func)


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


# --------------------------------------------------------------------------- static checks
def test_every_torch_load_uses_weights_only():
    found, bad = 0, []
    for path in _all_project_py():
        for call, name in _calls(path):
            if name.endswith("torch.load"):
                found += 1
                v = _kw(call, "weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    bad.append(_where(path, call))
            if name in ("torch.jit.load", "torch.package.PackageImporter", "torch.hub.load", "torch.hub.load_state_dict_from_url"):
                bad.append(f"{_where(path, call)} {name}")
            if name.endswith("np.load") or name.endswith("numpy.load"):
                v = _kw(call, "allow_pickle")
                if v is not None and not (isinstance(v, ast.Constant) and v.value is False):
                    bad.append(f"{_where(path, call)} np.load(allow_pickle=...)")
    assert found >= 3, "expected the model loaders' torch.load calls"
    assert not bad, "unsafe model loading:\n" + "\n".join(bad)


FORBIDDEN_CALLS = {
    "eval", "exec", "compile", "__import__", "pickle.load", "pickle.loads", "pickle.Unpickler", "marshal.load",
    "marshal.loads", "yaml.load", "yaml.unsafe_load", "shelve.open", "dill.load", "dill.loads", "joblib.load",
    "cloudpickle.load", "cloudpickle.loads", "os.system", "os.popen", "subprocess.run", "subprocess.Popen",
    "subprocess.call", "subprocess.check_output", "subprocess.check_call", "urllib.request.urlopen",
    "urlopen", "requests.get", "requests.post", "torch.hub.load", "socket.socket", "st.html", "components.html",
}
FORBIDDEN_IMPORTS = {"pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "requests", "subprocess"}


def test_no_pickle_eval_exec_shell_or_network_in_app_code():
    bad = []
    for path in _py_files(APP_DIRS, APP_FILES):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bad += [f"{_where(path, node)} import {a.name}" for a in node.names
                        if a.name.split(".")[0] in FORBIDDEN_IMPORTS]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_IMPORTS:
                bad.append(f"{_where(path, node)} from {node.module} import …")
            elif isinstance(node, ast.Call):
                name = _dotted(node.func)
                if name in FORBIDDEN_CALLS:
                    bad.append(f"{_where(path, node)} {name}(…)")
                if name.endswith("import_module"):
                    arg = node.args[0] if node.args else None
                    fixed = isinstance(arg, ast.Constant) or (
                        isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant))
                    if not fixed:
                        bad.append(f"{_where(path, node)} import_module with a computed name")
                html = _kw(node, "unsafe_allow_html")
                if html is not None and not (isinstance(html, ast.Constant) and html.value is False):
                    body = node.args[0] if node.args else None
                    constant = isinstance(body, ast.Constant) or (isinstance(body, ast.Name) and body.id.isupper()
                                                                  or isinstance(body, ast.Name) and body.id.startswith("_")
                                                                  and body.id[1:].isupper())
                    if not constant:
                        bad.append(f"{_where(path, node)} unsafe_allow_html with non-constant content")
    assert not bad, "forbidden in code that handles user input:\n" + "\n".join(bad)


# The one reader of user-supplied weights (models.toml entries, uploads): weights_only=True only.
USER_WEIGHTS_READER = "core/models/user/checkpoint.py"


def test_weights_come_from_files_the_project_ships_or_pins():
    """No loader reads a path that a user could choose: every torch.load argument is built from a
    module-level constant path (assets/ or an installed package), not from widget or URL input —
    except the user-model reader, whose every torch.load is weights_only=True (pickled code refused,
    tests/models/test_user_models.py)."""
    for path in _py_files(APP_DIRS):
        text = path.read_text(encoding="utf-8")
        for call, name in _calls(path):
            if name.endswith("torch.load"):
                if path.relative_to(ROOT).as_posix() == USER_WEIGHTS_READER:
                    kw = {k.arg: k.value for k in call.keywords}
                    assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                    continue
                src = ast.get_source_segment(text, call.args[0]) if call.args else ""
                assert re.search(r"WEIGHTS_DIR|_path\(|ASSETS|\bp\b|path", src or ""), (_where(path, call), src)
    for page in (ROOT / "views").glob("*.py"):
        assert "torch.load" not in page.read_text()


def _config_options() -> dict:
    code = ("import json; from streamlit import config; config.get_config_options(force_reparse=True); "
            "names = ['server.address', 'server.port', 'server.headless', 'server.maxUploadSize', "
            "'server.maxMessageSize', 'server.enableXsrfProtection', 'server.enableCORS', "
            "'server.enableStaticServing', 'server.fileWatcherType', 'browser.gatherUsageStats', "
            "'client.showErrorDetails', 'client.toolbarMode', 'runner.magicEnabled', 'runner.fastReruns', "
            "'server.disconnectedSessionTTL']; "
            "print(json.dumps({n: config.get_option(n) for n in names}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_config_toml_takes_effect():
    opts = _config_options()
    assert opts["server.address"] == "127.0.0.1"
    # One upload limit: the browser refuses files over maxUploadSize x 1,000,000 bytes, core over
    # MAX_UPLOAD_BYTES; both come from limits.MAX_UPLOAD_MB.
    assert opts["server.maxUploadSize"] == limits.MAX_UPLOAD_MB == 20
    assert limits.MAX_UPLOAD_BYTES == limits.MAX_UPLOAD_MB * 1_000_000 == limits.MAX_ZIP_BYTES
    assert opts["server.enableXsrfProtection"] is True
    assert opts["server.enableCORS"] is True
    assert opts["server.enableStaticServing"] is False
    assert opts["server.headless"] is True
    assert opts["browser.gatherUsageStats"] is False
    assert opts["client.showErrorDetails"] == "none"
    assert opts["runner.fastReruns"] is True  # Stop (ui/long_work.py) relies on it
    assert opts["server.disconnectedSessionTTL"] == 30  # a closed tab's memory is kept 30 s, not 120 (SECURITY.md)


def test_start_script_binds_to_loopback_unless_told_otherwise():
    text = (ROOT / "scripts" / "start.sh").read_text()
    assert re.search(r'--server\.address\s+"\$\{HOST:-127\.0\.0\.1\}"', text), "start.sh must default to 127.0.0.1"
    assert "0.0.0.0" not in re.sub(r"#.*", "", text)
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "start.sh")], check=True)
    for helper in ("tests/browser_util.py", "bench/soak.py"):
        src = (ROOT / helper).read_text()
        assert '"--server.address"' in src and "127.0.0.1" in src
    cfg = (ROOT / ".streamlit" / "config.toml").read_text()
    assert re.search(r'^address\s*=\s*"127\.0\.0\.1"', cfg, re.M)


# --------------------------------------------------------------------------- a real server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listeners(port: int) -> list[str]:
    """Local addresses of the listening TCP sockets on ``port`` (/proc/net/tcp and tcp6)."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.rsplit(":", 1)
            if int(p, 16) == port and state == "0A":  # LISTEN
                out.append(addr)
    return out


def _is_loopback(hex_addr: str) -> bool:
    if len(hex_addr) == 8:  # IPv4, little-endian
        return hex_addr.endswith("7F")
    return hex_addr in ("00000000000000000000000001000000",) or hex_addr.upper().startswith("0000000000000000FFFF00000100007F")


def _put(port: int, path: str, length: int, headers: dict) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.putrequest("PUT", path)
    for k, v in headers.items():
        c.putheader(k, v)
    c.putheader("Content-Length", str(length))
    c.endheaders()
    try:
        c.send(b"\0" * min(length, 1024))
    except OSError:
        pass
    status = c.getresponse().status
    c.close()
    return status


@pytest.mark.slow
def test_a_real_server_binds_to_loopback_and_enforces_xsrf_upload_size_and_origin():
    port = _free_port()
    log = tempfile.TemporaryFile()
    # No --server.address: .streamlit/config.toml decides, as with a plain `streamlit run app.py`.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        cookie = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    cookie = next(c.split(";")[0].split("=", 1)[1] for c in r.headers.get_all("Set-Cookie") or []
                                  if c.startswith("_streamlit_xsrf="))
                    break
            except OSError:
                time.sleep(0.3)
            assert proc.poll() is None, "the server exited"
        assert cookie, "no XSRF cookie from the server"

        listening = _listeners(port)
        assert listening and all(_is_loopback(a) for a in listening), listening

        async def checks():
            import websockets

            ws_ok = await websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"])
            from streamlit.proto.BackMsg_pb2 import BackMsg
            from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

            msg = BackMsg()
            msg.rerun_script.query_string = ""
            await ws_ok.send(msg.SerializeToString())
            sid = None
            while sid is None:
                fm = ForwardMsg()
                fm.ParseFromString(await asyncio.wait_for(ws_ok.recv(), 60))
                if fm.WhichOneof("type") == "new_session":
                    sid = fm.new_session.initialize.session_id
            refused = None
            try:
                evil = await websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                                origin="http://evil.example")
                await evil.close()
            except websockets.exceptions.InvalidStatus as e:
                refused = e.response.status_code
            return sid, refused, ws_ok

        loop = asyncio.new_event_loop()
        try:
            sid, refused, ws = loop.run_until_complete(checks())
            good = {"X-Xsrftoken": cookie, "Cookie": f"_streamlit_xsrf={cookie}",
                    "Content-Type": "multipart/form-data; boundary=x"}
            path = f"/_stcore/upload_file/{sid}/f1"
            assert _put(port, path, 100, {}) == 403  # no XSRF token
            assert _put(port, path, 100, {**good, "X-Xsrftoken": "2|00|00|1"}) == 403  # a forged token
            assert _put(port, path, limits.MAX_UPLOAD_BYTES + 2 * 1024 * 1024, good) == 413  # over 20 MB
            assert _put(port, "/_stcore/upload_file/not-a-session/f1", 100, good) == 400
            assert refused == 403  # a page on another origin cannot open a session
            loop.run_until_complete(ws.close())
        finally:
            loop.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
