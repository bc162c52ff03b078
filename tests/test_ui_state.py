"""Session state in one place: every key the app keeps comes from `tal.ui.state`, and none outlives its use.

The first tests read the source of `tal/ui`, `app_pages` and `app.py` with `ast` (no Streamlit run): a
session key written as a bare string, or built from a string of the module's own, fails them, and so does
a module that writes a key another module owns. The last test runs the Train panel in `AppTest`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / "tal" / "ui" / "state.py"
SOURCES = sorted((ROOT / "tal" / "ui").glob("*.py")) + sorted((ROOT / "app_pages").glob("*.py")) + [ROOT / "app.py"]
READS = {"get"}
WRITES = {"pop", "setdefault"}
MAPPING = {"keys", "items", "values", "to_dict", "clear", "update"}  # methods that name no key


def declared() -> dict[str, tuple[str, str]]:
    """{constant: (value, owner module)} from state.py; owner from the line's '(owner: …)' comment."""
    comments = {tok.start[0]: tok.string for tok in tokenize.generate_tokens(io.StringIO(STATE.read_text()).readline)
                if tok.type == tokenize.COMMENT}
    found = {}
    for node in ast.parse(STATE.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            (target,) = node.targets
            owner = re.search(r"\(owner: ([\w/.]+)\)", comments.get(node.lineno, ""))
            found[target.id] = (node.value.value, owner.group(1) if owner else "")
    return found


def module_name(path: Path) -> str:
    """'train_panel' for tal/ui/train_panel.py, 'app_pages/studies' for a page, 'app' for app.py."""
    rel = path.relative_to(ROOT)
    return rel.stem if rel.parts[:2] == ("tal", "ui") else str(rel.with_suffix(""))


def _is_session_state(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "session_state"


class _Uses(ast.NodeVisitor):
    """Every session-state key expression of one module: (node, key expression, is a write, scopes)."""

    def __init__(self):
        self.found = []
        self.scopes = []  # innermost last: {name: [values assigned to it]}

    @staticmethod
    def _bindings(body) -> dict:
        """{name: [values assigned to it]} in one scope's own statements (not in the functions it defines)."""
        out: dict = {}
        todo = list(body)
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        out.setdefault(target.id, []).append(node.value)
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and isinstance(node.target, ast.Name) \
                    and node.value is not None:
                out.setdefault(node.target.id, []).append(node.value)
            todo.extend(ast.iter_child_nodes(node))
        return out

    def visit_Module(self, node):
        self.imports = {}  # local name: "state" for `from tal.ui import state`, "state.X" for `from tal.ui.state import X`
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and sub.module == "tal.ui":
                self.imports.update({a.asname or a.name: a.name for a in sub.names if a.name == "state"})
            elif isinstance(sub, ast.ImportFrom) and sub.module == "tal.ui.state":
                self.imports.update({a.asname or a.name: f"state.{a.name}" for a in sub.names})
        self.scopes.append(self._bindings(node.body))
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        params = {a.arg: [] for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
        self.scopes.append({**params, **self._bindings(node.body)})
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _add(self, node, key, write):
        self.found.append((node, key, write, [dict(s) for s in self.scopes]))

    def visit_Subscript(self, node):
        if _is_session_state(node.value):
            self._add(node, node.slice, not isinstance(node.ctx, ast.Load))
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Attribute) and _is_session_state(f.value) and f.attr in READS | WRITES and node.args:
            self._add(node, node.args[0], f.attr in WRITES)
        self.generic_visit(node)

    def visit_Compare(self, node):
        if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and any(map(_is_session_state, node.comparators)):
            self._add(node, node.left, False)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if _is_session_state(node.value) and node.attr not in READS | WRITES | MAPPING:
            self._add(node, ast.Constant(node.attr), not isinstance(node.ctx, ast.Load))  # st.session_state.x
        self.generic_visit(node)


def _origin(expr, scopes, imports, seen=()):
    """Where a key expression's name comes from: ("state", CONSTANT), ("literal", text), or ("dynamic", None)
    for keys built from a parameter or a call (a widget key from the caller's prefix)."""
    if isinstance(expr, ast.Constant):
        return "literal", repr(expr.value)
    if isinstance(expr, ast.JoinedStr):
        first = expr.values[0] if expr.values else ast.Constant("")
        return _origin(first.value if isinstance(first, ast.FormattedValue) else first, scopes, imports, seen)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _origin(expr.left, scopes, imports, seen)
    if isinstance(expr, ast.Attribute):
        if isinstance(expr.value, ast.Name) and imports.get(expr.value.id) == "state":
            return "state", expr.attr
        return "literal", ast.unparse(expr)
    if isinstance(expr, ast.Name):
        if expr.id in imports and imports[expr.id].startswith("state."):
            return "state", imports[expr.id].split(".", 1)[1]
        for scope in reversed(scopes):
            if expr.id in scope:
                if expr.id in seen or not scope[expr.id]:
                    return "dynamic", None  # a parameter (or a loop over keys)
                origins = [_origin(v, scopes, imports, (*seen, expr.id)) for v in scope[expr.id]]
                return next((o for o in origins if o[0] == "literal"), origins[0])
        return "dynamic", None
    return "dynamic", None


def problems(source: str, module: str, keys: dict) -> list[str]:
    """What breaks the rule in one module's source: bare keys, unknown constants, writes of others' keys."""
    uses = _Uses()
    uses.visit(ast.parse(source))
    out = []
    for node, key, write, scopes in uses.found:
        kind, what = _origin(key, scopes, uses.imports)
        where = f"{module}:{node.lineno}: {ast.unparse(node)}"
        if kind == "literal":
            out.append(f"{where}: the key (or its prefix) {what} is not from tal/ui/state.py")
        elif kind == "state" and what not in keys:
            out.append(f"{where}: tal.ui.state has no {what}")
        elif kind == "state" and write and keys[what][1] != module:
            out.append(f"{where}: writes state.{what}, which {keys[what][1]} owns (call a function of it)")
    return out


def test_every_session_key_comes_from_tal_ui_state_and_only_its_owner_writes_it():
    keys = declared()
    found = [p for path in SOURCES for p in problems(path.read_text(), module_name(path), keys)]
    assert not found, "\n".join(found)


def test_state_declares_each_key_once_with_what_it_holds_and_its_owner():
    keys = declared()
    assert keys, "no keys found in tal/ui/state.py"
    values = [value for value, _ in keys.values()]
    assert len(set(values)) == len(values), f"a key is declared twice: {values}"
    modules = {module_name(path) for path in SOURCES}
    unowned = [name for name, (_, owner) in keys.items() if owner not in modules]
    assert not unowned, f"no '(owner: module)' comment naming a module of the app: {unowned}"
    # and each is used: a key nobody reads or writes is dead weight
    text = "\n".join(path.read_text() for path in SOURCES if path != STATE)
    unused = [name for name in keys if not re.search(rf"\bstate\.{name}\b", text)]
    assert not unused, f"declared but never used: {unused}"


@pytest.mark.parametrize("code, expected", [
    ('st.session_state["x"] = 1', "prefix) 'x' is not"),
    ('st.session_state.get("x")', "prefix) 'x' is not"),
    ('st.session_state.pop("x", None)', "prefix) 'x' is not"),
    ('"x" in st.session_state', "prefix) 'x' is not"),
    ('st.session_state.x', "prefix) 'x' is not"),
    ('K = "x"\ndef f():\n    return st.session_state[K]', "prefix) 'x' is not"),
    ('def f(job):\n    key = f"train.lam.{job.id}"\n    return st.session_state[key]', "prefix) 'train.lam.' is not"),
    ('def f(job):\n    key = f"train.lam.{job.id}"\n    def g():\n        return st.session_state[key]', "'train.lam.'"),
    ('st.session_state[other.KEY + "error"] = 1', "prefix) other.KEY is not"),
    ('st.session_state[state.NOPE]', "tal.ui.state has no NOPE"),
    ('st.session_state[state.JOB] = 1', "which train_panel owns"),
])
def test_the_scan_catches_each_way_of_breaking_the_rule(code, expected):
    found = problems("import streamlit as st\nfrom tal.ui import state\n" + code, "somewhere", declared())
    assert found and expected in found[0], found


@pytest.mark.parametrize("code", [
    "st.session_state[state.JOB]",
    "from tal.ui.state import SELECTED_RUN\nst.session_state.get(SELECTED_RUN)",
    "JOB = state.STUDY_JOB\nst.session_state.get(JOB)",
    "def f(key):\n    return st.session_state.get(f'{key}.source')",  # a widget key from the caller's prefix
    "def f(name):\n    return st.session_state[state.WIDGET_PREFIX + name]",
    "for key in (state.JOB, state.STUDY_JOB):\n    st.session_state.get(key)",
    "st.session_state.keys()",
])
def test_the_scan_lets_declared_and_derived_keys_pass(code):
    assert problems("import streamlit as st\nfrom tal.ui import state\n" + code, "train_panel", declared()) == []


# --------------------------------------------------------------------------- the live λ slider


def _panel_script():
    import streamlit as st

    from tal import ModelConfig, TrainConfig
    from tal.engine.callbacks import Progress
    from tal.ui import jobs, state, train_panel

    def training(aux_weight):
        job = jobs.TrainingJob(ModelConfig(), TrainConfig(aux_weight=aux_weight))
        job.status = "training"
        job.batches.append(Progress(1, 3, 1, 10, 1, 30, 0.5, 0.4, 0.1, 0.9, 0.8, None, None, aux_weight, 100.0, 5.0,
                                    2.0).to_dict())
        return job

    class Manager:  # jobs.training_manager() without a worker process
        def submit(self, job):
            return training(0.25)

        def prewarm(self):
            pass

        def follow(self, shown, owner, kind=None):  # no other page of this browser started a job
            return shown

        def forget(self, job):
            pass

    jobs.training_manager = Manager  # this test's process only (AppTest runs the script in it)
    if st.query_params.get("step") == "start" and state.JOB not in st.session_state:
        train_panel._replace_job(training(1.0))
    elif st.query_params.get("step") == "again":
        train_panel.start()  # Start training (the button's callback) while the old job's slider key is there
    train_panel.live()
    # the keys as the script ends (Streamlit forgets a widget left undrawn only after the run)
    st.caption(" ".join(sorted(k for k in st.session_state if str(k).startswith(state.LIVE_LAMBDA))))


def test_the_live_lambda_key_goes_with_its_job(runs_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tal.ui import jobs, state

    monkeypatch.setattr(jobs, "training_manager", jobs.training_manager)  # the script replaces it
    at = AppTest.from_function(_panel_script, default_timeout=60)
    at.query_params["step"] = "start"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    first = at.session_state[state.JOB]
    lam = at.slider(key=state.LIVE_LAMBDA + first.id)
    assert lam.value == 1.0
    lam.set_value(1.5).run()
    assert first.control.take_aux_weight() == 1.5  # the slider reaches the job

    def slider_keys():  # as the panel's run ends, and after it
        after = [k for k in at.session_state if str(k).startswith(state.LIVE_LAMBDA)]
        assert at.caption[-1].value.split() == after
        return after

    first.status = "completed"  # done: the next run of the panel drops its slider
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert slider_keys() == []

    first.status = "training"  # replaced, with no run of the panel in between
    at.run()
    assert slider_keys() == [state.LIVE_LAMBDA + first.id]
    first.status = "stopped"
    at.query_params["step"] = "again"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    second = at.session_state[state.JOB]
    assert second is not first
    assert slider_keys() == [state.LIVE_LAMBDA + second.id]
    assert at.slider(key=state.LIVE_LAMBDA + second.id).value == 0.25  # its own λ, not the last job's slider
