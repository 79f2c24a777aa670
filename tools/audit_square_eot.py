"""Re-run the Square check of a shipped audit of a randomized defense with Square-EOT
(core/attacks/square_eot.py) and merge it into the audit file.

The full audit of a randomized defense (``python -m core audit … --defense "Randomized smoothing"``,
the command kept in each file) back-propagates through EOT draws of EOT draws and needs several GB;
on the project's shared 2-core machine those runs were killed for memory. The Square check is the
only one Square-EOT changes, and it runs forward passes only, so this tool re-runs just that check —
plain Square (one draw per query) and Square-EOT, on the same photos, labels, ε values, queries,
p_init, repeats and EOT draws as the file's config — and writes into each comparison row
``square_one_draw``, ``square_eot``, ``square`` (fooled by either), their ``n`` and ``<rate>_ci95``, the
square check's rows and verdict (same rule as core/evaluation/audit/checks.py: the gap to white-box above ``tol``),
the flags, and ``square_eot_rerun`` (command, seconds, what was kept). The white-box, transfer and
other checks stay as the file's full run measured them (their intervals are added).

    .venv/bin/python tools/audit_square_eot.py docs/audits/labelled-smoothing-eot.json [...]
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.attacks.base import ThreatModel  # noqa: E402  (after the path is set)
from core.attacks.square import Square  # noqa: E402
from core.attacks.square_eot import SquareEOT  # noqa: E402
from core.evaluation.audit.checks import WARNING_SIGNS, _correct, _fooled, _rate  # noqa: E402
from core.evaluation.audit.runs import prepare  # noqa: E402
from core.cli.commands import parse_defense  # noqa: E402
from core.judging.stats import rate_interval  # noqa: E402


def _args(command: str) -> dict:
    """The audit options of the file's command line."""
    words = shlex.split(command)
    out: dict = {"labelled": "--labelled" in words}
    for opt in ("--model", "--samples", "--n", "--defense", "--seed"):
        if opt in words:
            out[opt[2:]] = words[words.index(opt) + 1]
    return out


def rerun(path: Path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not doc.get("randomized"):
        raise SystemExit(f"{path}: not a randomized model's audit")
    a = _args(doc["command"])
    cfg = doc["config"]
    seed = int(a.get("seed", 0))
    # the command kept in the file has lost the quotes around a defense name with a space
    cmd = doc["command"]
    defense_name = cmd.split("--defense ", 1)[1].split(" --")[0] if "--defense " in cmd else None
    target = prepare(a["model"], n=int(a.get("n", 100)), samples=a["samples"].split(",") if "samples" in a else None,
                     defense=parse_defense(defense_name) if defense_name else None, adaptive=True, surrogate=None,
                     labelled=a["labelled"])
    t0 = time.perf_counter()
    rep = cfg["repeats"]
    ok = _correct(target.model, target.x, target.y, rep)
    xc, yc = target.x[ok], target.y[ok]
    n_ok = int(ok.sum())
    note = ""
    if n_ok != doc["clean_correct"]:
        note = (f"this re-run's majority vote found {n_ok} clean-correct images, the full run {doc['clean_correct']}; "
                "the Square rates below are over this re-run's.")
    for k, row in enumerate(doc["comparison"]):
        e = row["eps"]
        th = ThreatModel(norm=cfg["norm"], eps=e)
        one = _fooled(target.model, target.model, Square(th, n_queries=cfg["square_queries"], p_init=cfg["square_p_init"]),
                      xc, yc, seed + 70 + k, rep)
        eot = _fooled(target.model, target.model,
                      SquareEOT(th, n_queries=cfg["square_queries"], p_init=cfg["square_p_init"],
                                eot_samples=cfg["eot_samples"]), xc, yc, seed + 75 + k, rep)
        row["square_before_rerun"] = row.get("square")
        row["square_one_draw"], row["square_eot"], row["square"] = _rate(one), _rate(eot), _rate(one | eot)
        row["n"] = n_ok
        for key in ("white_box", "transfer", "square", "square_one_draw", "square_eot"):
            v = row.get(key)
            if v is not None and v == v:
                try:
                    row[f"{key}_ci95"] = rate_interval(v, n_ok if key.startswith("square") else doc["clean_correct"]).as_list()
                except ValueError:
                    pass
        print(f"  ε = {e:.4g}: white-box {row['white_box']:.2f}, Square one draw {row['square_one_draw']:.2f}, "
              f"Square-EOT {row['square_eot']:.2f} (over {n_ok})", flush=True)
    gaps = [c["square"] - c["white_box"] for c in doc["comparison"]]
    g = max(gaps)
    chk = next(c for c in doc["checks"] if c["key"] == "square")
    chk["verdict"] = "warn" if g > cfg["tol"] else "pass"
    chk["numbers"].update(rows=[{k: c[k] for k in ("eps", "white_box", "square", "square_one_draw", "square_eot")}
                                for c in doc["comparison"]], largest_gap=g, square_eot_samples=cfg["eot_samples"])
    at = doc["comparison"][gaps.index(g)]
    chk["meaning"] = (f"Square, which never looks at gradients (one draw per query, or Square-EOT averaging "
                      f"{cfg['eot_samples']} draws), fools {100 * at['square']:.1f} % against {100 * at['white_box']:.1f} % "
                      f"for white-box PGD at ε = {at['eps']:.3g}: the gradients are hiding adversarial examples that exist."
                      if g > cfg["tol"] else
                      "Neither plain Square nor Square-EOT beats the gradient attack: no sign that gradients are hidden.")
    doc["flags"] = [c["key"] for c in doc["checks"] if c["verdict"] == "warn"]
    doc["flagged"] = bool(doc["flags"])
    for c in doc["curve"]:
        c.setdefault("n", doc["clean_correct"])
        try:
            c.setdefault("success_ci95", rate_interval(c["success"], doc["clean_correct"]).as_list())
        except ValueError:
            pass
    doc["square_eot_rerun"] = {
        "command": "python tools/audit_square_eot.py " + str(path.relative_to(ROOT) if path.is_absolute() else path),
        "seconds": round(time.perf_counter() - t0, 1),
        "what": "the Square check re-run with plain Square and Square-EOT (forward passes only); every other check "
                "and the white-box and transfer rates are the full run's",
        "warning_signs": [WARNING_SIGNS.get(f, f) for f in doc["flags"]], "note": note}
    path.write_text(json.dumps(doc, indent=1, default=float), encoding="utf-8")
    print(f"wrote {path}: flags {doc['flags']} ({doc['square_eot_rerun']['seconds']:.0f} s)", flush=True)
    return doc


if __name__ == "__main__":
    for p in sys.argv[1:]:
        rerun(Path(p))
