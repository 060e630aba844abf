"""End-to-end tests of the command line.

A handful of real subprocesses (every command, every file format) run in
parallel in one module-scoped fixture, since each process pays ~2 s of imports;
the bad-input matrix and the finer checks call ``main()`` in-process.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import fbeta_score as sk_fbeta

from f1opt import GlobalThreshold, PerClassThreshold
from f1opt.cli import main

# ---------------------------------------------------------------------------
# data


def _binary(rng, n):
    y = (rng.random(n) < 0.3).astype(np.int64)
    s = 1 / (1 + np.exp(-(3 * (y - 0.5) + rng.normal(0, 1.3, n))))
    return s, y


def _multilabel(rng, n, n_labels=4):
    y = (rng.random((n, n_labels)) < [0.1, 0.3, 0.5, 0.2]).astype(np.int64)
    s = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(0, 1.2, (n, n_labels)) - 0.4)))
    return s, y


def _multiclass(rng, n, k=3):
    y = rng.choice(k, size=n, p=[0.6, 0.3, 0.1])
    logits = rng.normal(0, 1.0, (n, k)) + 1.6 * np.eye(k)[y]
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True), y


def _write_csv(path, columns, header=True):
    names = list(columns)
    n = len(next(iter(columns.values())))
    lines = [",".join(names)] if header else []
    for i in range(n):
        lines.append(
            ",".join(
                repr(c[i]) if not isinstance(c[i], str) else c[i]
                for c in (columns[k] for k in names)
            )
        )
    Path(path).write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("data")
    out = {"dir": d}
    # binary: CSV with header and id column
    for part, n in (("val", 300), ("test", 200)):
        s, y = _binary(rng, n)
        out[f"bin_{part}"] = (s, y)
        ids = [f"r{i}" for i in range(n)]
        _write_csv(d / f"bin_{part}_scores.csv", {"id": ids, "score": s.tolist()})
        _write_csv(d / f"bin_{part}_labels.csv", {"id": ids, "label": y.tolist()})
    # multilabel: NPZ (two keys), NPY and CSV without header
    for part, n in (("val", 300), ("test", 200)):
        s, y = _multilabel(rng, n)
        out[f"ml_{part}"] = (s, y)
        np.savez(d / f"ml_{part}.npz", scores=s, labels=y)
        np.save(d / f"ml_{part}_scores.npy", s)
        np.save(d / f"ml_{part}_labels.npy", y)
        np.savetxt(d / f"ml_{part}_scores.csv", s, delimiter=",", fmt="%.17g")
        np.savetxt(d / f"ml_{part}_labels.csv", y, delimiter=",", fmt="%d")
    # multiclass: Parquet, scores and class ids in one file
    for part, n in (("val", 400), ("test", 200)):
        p, y = _multiclass(rng, n)
        out[f"mc_{part}"] = (p, y)
        pq.write_table(
            pa.table(
                {
                    "id": [f"q{i}" for i in range(n)],
                    "p0": p[:, 0],
                    "p1": p[:, 1],
                    "p2": p[:, 2],
                    "y": y,
                }
            ),
            d / f"mc_{part}.parquet",
        )
    for path in d.iterdir():
        path.chmod(0o444)  # inputs must never be written
    out["hashes"] = _snapshot(d)
    return out


def _snapshot(*dirs):
    state = {}
    for d in dirs:
        for path in sorted(Path(d).rglob("*")):
            if path.is_file():
                state[str(path)] = hashlib.sha1(path.read_bytes()).hexdigest()
            else:
                state[str(path)] = "dir"
    return state


# ---------------------------------------------------------------------------
# real subprocesses, run in parallel


def _run(args, cwd, exe=None):
    command = (exe or [sys.executable, "-m", "f1opt"]) + [str(a) for a in args]
    env = dict(os.environ, PYTHONWARNINGS="ignore", MPLBACKEND="Agg")
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    return done


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    d = data["dir"]
    out = tmp_path_factory.mktemp("out")
    console = Path(sys.executable).parent / "f1opt"
    # two rules fitted in-process (NPZ + NPY, Parquet); their apply runs as a subprocess
    assert (
        main(
            f"fit -q --scores {d}/ml_val.npz --key scores --labels {d}/ml_val_labels.npy "
            f"--method per_class -o {out}/ml_rule.json".split()
        )
        == 0
    )
    assert (
        main(
            f"fit -q --scores {d}/mc_val.parquet --id-column id --score-columns p0,p1,p2 "
            f"--labels {d}/mc_val.parquet --label-columns y --method weights "
            f"-o {out}/mc_rule.json".split()
        )
        == 0
    )
    commands = {
        "fit_csv": f"fit --scores {d}/bin_val_scores.csv --labels {d}/bin_val_labels.csv "
        f"--id-column id --method global -o {out}/bin_rule.json",
        "apply_csv": f"apply --rule {out}/bin_rule.json --scores {d}/bin_test_scores.csv "
        f"--id-column id -o {out}/bin_pred.csv",
        "evaluate_rule": f"evaluate --rule {out}/bin_rule.json --scores "
        f"{d}/bin_test_scores.csv --labels {d}/bin_test_labels.csv --id-column id",
        "apply_npz": f"apply --rule {out}/ml_rule.json --scores {d}/ml_test.npz --key scores "
        f"-o {out}/ml_pred.npz",
        "apply_parquet": f"apply --rule {out}/mc_rule.json --scores {d}/mc_test.parquet "
        f"--id-column id --score-columns p0,p1,p2 -o {out}/mc_pred.parquet",
        "compare": f"compare --scores {d}/ml_val_scores.npy --labels {d}/ml_val_labels.npy "
        f"--test-scores {d}/ml_test_scores.npy --test-labels {d}/ml_test_labels.npy "
        f"--methods global,per_class --cv 3 --report {out}/report",
        "demo": f"demo --n-train 2000 --epochs 2 --cv 2 --report {out}/demo-report --quiet",
        "bad_missing": f"fit --scores {d}/nope.csv --labels {d}/bin_val_labels.csv "
        f"-o {out}/never.json",
    }
    # chains: an apply runs right after the fit it needs; the demo runs beside the rest
    chains = [
        ["demo"],
        ["fit_csv", "apply_csv", "evaluate_rule"],
        ["apply_npz", "compare"],
        ["apply_parquet", "bad_missing"],
    ]
    assert sorted(k for chain in chains for k in chain) == sorted(commands)
    exe = {"apply_csv": [str(console)] if console.exists() else None}  # the console script

    def run_chain(chain):
        return {k: _run(commands[k].split(), out, exe.get(k)) for k in chain}

    results = {}
    with ThreadPoolExecutor(max_workers=len(chains)) as pool:
        for done in pool.map(run_chain, chains):
            results.update(done)
    return results, out


def _ok(done):
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_fit_then_apply_csv_equals_python_api(data, runs):
    results, out = runs
    _ok(results["fit_csv"])
    _ok(results["apply_csv"])
    (s, y), (st, _) = data["bin_val"], data["bin_test"]
    expected = GlobalThreshold(average="binary").fit(s, y).predict(st)
    text = (out / "bin_pred.csv").read_text().splitlines()
    assert text[0] == "id,prediction"  # ids kept, decisions under "prediction"
    assert [line.split(",")[0] for line in text[1:]] == [f"r{i}" for i in range(len(st))]
    np.testing.assert_array_equal([int(line.split(",")[1]) for line in text[1:]], expected)
    rule = json.loads((out / "bin_rule.json").read_text())
    assert rule["class"] == "GlobalThreshold"
    assert "threshold" in results["fit_csv"].stdout


def test_fit_then_apply_npz_npy_equals_python_api(data, runs, capsys):
    results, out = runs
    _ok(results["apply_npz"])
    assert (
        main(
            [
                "apply",
                "--rule",
                str(out / "ml_rule.json"),
                "--scores",
                str(data["dir"] / "ml_test_scores.npy"),
                "-o",
                str(out / "ml_pred.npy"),
            ]
        )
        == 0
    )
    (s, y), (st, _) = data["ml_val"], data["ml_test"]
    expected = PerClassThreshold(average="micro").fit(s, y).predict(st)
    with np.load(out / "ml_pred.npz") as archive:
        np.testing.assert_array_equal(archive["predictions"], expected)
    np.testing.assert_array_equal(np.load(out / "ml_pred.npy"), expected)


def test_fit_then_apply_parquet_multiclass_equals_python_api(data, runs):
    from f1opt.weights import ClassWeights

    results, out = runs
    _ok(results["apply_parquet"])
    (p, y), (pt, _) = data["mc_val"], data["mc_test"]
    expected = ClassWeights().fit(p, y).predict(pt)
    table = pq.read_table(out / "mc_pred.parquet")
    assert table.column_names == ["id", "prediction"]
    np.testing.assert_array_equal(table.column("prediction").to_numpy(), expected)
    assert table.column("id").to_pylist() == [f"q{i}" for i in range(len(pt))]


def _parse_evaluate(stdout):
    scores = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in ("binary", "micro", "macro", "weighted", "samples"):
            scores[parts[0]] = [float(x) for x in parts[1:]]
    return scores


def test_evaluate_matches_sklearn(data, runs, capsys):
    results, _ = runs
    d = data["dir"]
    assert (
        main(
            [
                "evaluate",
                "--scores",
                str(d / "ml_test_scores.csv"),
                "--labels",
                str(d / "ml_test_labels.csv"),
            ]
        )
        == 0
    )
    s, y = data["ml_test"]
    got = _parse_evaluate(capsys.readouterr().out)
    assert set(got) == {"micro", "macro", "weighted", "samples"}
    for average, (default,) in got.items():
        want = sk_fbeta(y, (s >= 0.5).astype(int), beta=1, average=average, zero_division=0)
        assert default == pytest.approx(want, abs=5e-5)
    _ok(results["evaluate_rule"])
    (sv, yv), (st, yt) = data["bin_val"], data["bin_test"]
    got = _parse_evaluate(results["evaluate_rule"].stdout)["binary"]
    rule_pred = GlobalThreshold(average="binary").fit(sv, yv).predict(st)
    assert got[0] == pytest.approx(sk_fbeta(yt, (st >= 0.5).astype(int), beta=1), abs=5e-5)
    assert got[1] == pytest.approx(sk_fbeta(yt, rule_pred, beta=1), abs=5e-5)


def _report_files_exist(index: Path):
    text = index.read_text()
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
    assert refs, "the report references no figure"
    for ref in refs:
        assert (index.parent / ref).is_file(), ref
    return refs


def test_compare_table_and_report(data, runs):
    results, out = runs
    done = results["compare"]
    _ok(done)
    lines = done.stdout.splitlines()
    rows = {
        line.split()[0]: line
        for line in lines
        if line.split()[:1] and line.split()[0] in ("default", "global", "per_class")
    }
    assert set(rows) == {"default", "global", "per_class"}
    # the test column of the refitted rules equals sklearn on the Python API's predictions
    (s, y), (st, yt) = data["ml_val"], data["ml_test"]
    want = sk_fbeta(yt, PerClassThreshold().fit(s, y).predict(st), beta=1, average="micro")
    assert float(rows["per_class"].split()[6]) == pytest.approx(want, abs=5e-5)
    # mean, spread, interval of the pooled out-of-fold F, and which one is chosen
    _, mean, sd, oof, interval = rows["per_class"].split()[:5]
    low, high = (float(v) for v in interval.strip("[]").split(","))
    assert 0 < float(sd) < float(mean) and low <= float(oof) <= high
    assert sum("chosen" in line for line in rows.values()) == 1
    refs = _report_files_exist(out / "report" / "index.html")
    assert any(r.endswith("-pr.png") for r in refs)
    assert not [p for p in out.iterdir() if p.name.startswith(".report")]  # no temporaries


def test_demo_prints_tables_and_writes_report(runs):
    results, out = runs
    done = results["demo"]
    _ok(done)
    assert "Stretcher toy" in done.stdout and "emotions" in done.stdout
    tables = [line for line in done.stdout.splitlines() if line.startswith("default ")]
    assert len(tables) == 5  # every section compares the default decision
    assert "per_class" in done.stdout and "global" in done.stdout
    assert "expected" in done.stdout and "batch rule: never chosen" in done.stdout
    assert done.stderr == ""  # --quiet
    _report_files_exist(out / "demo-report" / "index.html")
    assert "Trohidis" in (out / "demo-report" / "index.html").read_text()  # source credited


def test_python_m_f1opt_demo_is_the_demo(capsys):
    from f1opt.demo import main as demo_main

    assert demo_main(["--help"]) == 0
    assert "--n-train" in capsys.readouterr().out


def test_bad_input_through_subprocess(runs):
    results, out = runs
    for name in ("bad_missing",):
        done = results[name]
        assert done.returncode == 2, (name, done.stderr)
        assert "Traceback" not in done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("f1opt: error: "), last
    assert not (out / "never.json").exists()


# ---------------------------------------------------------------------------
# in-process: the bad-input matrix


@pytest.fixture(scope="module")
def bad(data, tmp_path_factory):
    """Broken input files and valid rules for the matrix."""
    d = tmp_path_factory.mktemp("bad")
    s, y = data["ml_val"]
    (d / "empty.csv").write_bytes(b"")
    (d / "header_only.csv").write_text("a,b\n")
    (d / "text.csv").write_text("0.1,0.2\n0.3,high\n")
    (d / "nan.csv").write_text("0.1\nnan\n0.3\n")
    (d / "inf.npy").write_bytes(b"")
    np.save(d / "inf.npy", np.array([0.1, np.inf, 0.3]))
    (d / "y3.csv").write_text("0\n1\n2\n")
    (d / "s3.csv").write_text("0.1\n0.8\n0.4\n")
    (d / "s4.csv").write_text("0.1\n0.8\n0.4\n0.3\n")
    (d / "nopos.csv").write_text("0\n0\n0\n")
    np.save(d / "ml_labels_2.npy", np.where(y == 1, 2, 0))
    np.save(d / "ml_3cols.npy", s[:, :3])
    np.save(d / "mc_ids_big.npy", np.full(len(s), 7))
    np.save(d / "mc_ids_frac.npy", np.full(len(s), 0.5))
    (d / "garbage.npy").write_bytes(b"definitely not numpy")
    (d / "scores.xlsx").write_bytes(b"PK")
    (d / "corrupt.json").write_text('{"format": "f1opt-decider", "class": ')
    (d / "other.json").write_text('{"hello": 1}')
    (d / "ids_other.csv").write_text(
        "id,label\n" + "\n".join(f"x{i},{v}" for i, v in enumerate(data["bin_val"][1])) + "\n"
    )
    pq.write_table(pa.table({"v": [0.1, 0.2], "name": ["a", "b"]}), d / "strings.parquet")
    (d / "exists.json").write_text("{}")
    (d / "exists.csv").write_text("keep me\n")
    (d / "report").mkdir()
    (d / "report" / "mine.txt").write_text("not an f1opt report\n")
    (d / "adir.csv").mkdir()
    GlobalThreshold(average="micro").fit(s, y).save(d / "ml_rule.json")
    return d


CASES = {
    # name: (argv with {D} = data dir and {B} = bad dir and {O} = output dir, message part)
    "missing scores": (
        "fit --scores {D}/none.csv --labels {D}/bin_val_labels.csv -o {O}/r.json",
        "does not exist",
    ),
    "missing labels": (
        "fit --scores {D}/bin_val_scores.csv --labels {D}/none.csv --id-column id -o {O}/r.json",
        "does not exist",
    ),
    "directory as file": (
        "fit --scores {B}/adir.csv --labels {D}/bin_val_labels.csv -o {O}/r.json",
        "is a directory",
    ),
    "empty file": ("fit --scores {B}/empty.csv --labels {B}/y3.csv -o {O}/r.json", "empty"),
    "header only": (
        "fit --scores {B}/header_only.csv --labels {B}/y3.csv -o {O}/r.json",
        "no data rows",
    ),
    "text for numbers": (
        "fit --scores {B}/text.csv --labels {B}/y3.csv -o {O}/r.json",
        "text where a number belongs",
    ),
    "NaN scores": ("fit --scores {B}/nan.csv --labels {B}/nopos.csv -o {O}/r.json", "NaN"),
    "infinite scores": ("evaluate --scores {B}/inf.npy --labels {B}/nopos.csv", "infinite"),
    "binary labels outside 0/1": (
        "fit --scores {B}/s3.csv --labels {B}/y3.csv -o {O}/r.json",
        "only 0 and 1",
    ),
    "indicator outside 0/1": (
        "fit --scores {D}/ml_val_scores.npy --labels {B}/ml_labels_2.npy -o {O}/r.json",
        "only 0 and 1",
    ),
    "rows do not match": (
        "fit --scores {B}/s4.csv --labels {B}/y3.csv -o {O}/r.json",
        "rows do not match",
    ),
    "ids do not match": (
        "fit --scores {D}/bin_val_scores.csv --labels {B}/ids_other.csv "
        "--id-column id -o {O}/r.json",
        "ids differ",
    ),
    "label columns do not match": (
        "fit --scores {B}/ml_3cols.npy --labels {D}/ml_val_labels.npy -o {O}/r.json",
        "label columns",
    ),
    "average micro on binary": (
        "fit --scores {D}/bin_val_scores.csv --labels "
        "{D}/bin_val_labels.csv --id-column id --average micro "
        "-o {O}/r.json",
        "does not fit binary",
    ),
    "average binary on multilabel": (
        "compare --scores {D}/ml_val_scores.npy --labels {D}/ml_val_labels.npy --average binary",
        "does not fit multilabel",
    ),
    "unknown method": (
        "fit --scores {B}/s3.csv --labels {B}/nopos.csv --method magic -o {O}/r.json",
        "unknown method 'magic'",
    ),
    "old spelling per-class": (
        "fit --scores {B}/s3.csv --labels {B}/nopos.csv --method per-class -o {O}/r.json",
        "is spelled 'per_class'",
    ),
    "method does not apply": (
        "fit --scores {D}/bin_val_scores.csv --labels "
        "{D}/bin_val_labels.csv --id-column id --method per_class "
        "-o {O}/r.json",
        "does not apply",
    ),
    "unknown method in --methods": (
        "compare --scores {D}/ml_val_scores.npy --labels "
        "{D}/ml_val_labels.npy --methods global,magic",
        "unknown method",
    ),
    "corrupted rule": (
        "apply --rule {B}/corrupt.json --scores {D}/ml_test_scores.npy -o {O}/p.npy",
        "not valid JSON",
    ),
    "not a rule": (
        "apply --rule {B}/other.json --scores {D}/ml_test_scores.npy -o {O}/p.npy",
        "not an f1opt decider",
    ),
    "missing rule": (
        "evaluate --rule {B}/none.json --scores {D}/ml_test_scores.npy "
        "--labels {D}/ml_test_labels.npy",
        "does not exist",
    ),
    "rule width mismatch": (
        "apply --rule {B}/ml_rule.json --scores {B}/ml_3cols.npy -o {O}/p.npy",
        "does not fit these scores",
    ),
    "rule on binary scores": (
        "evaluate --rule {B}/ml_rule.json --scores "
        "{D}/bin_test_scores.csv --labels {D}/bin_test_labels.csv "
        "--id-column id",
        "does not fit these scores",
    ),
    "existing output (fit)": (
        "fit --scores {D}/ml_val_scores.npy --labels "
        "{D}/ml_val_labels.npy --method global -o {B}/exists.json",
        "already exists",
    ),
    "existing output (apply)": (
        "apply --rule {B}/ml_rule.json --scores {D}/ml_test_scores.npy -o {B}/exists.csv",
        "already exists",
    ),
    "output is the input": (
        "apply --rule {B}/ml_rule.json --scores {D}/ml_test_scores.npy "
        "-o {D}/ml_test_scores.npy --force",
        "is an input",
    ),
    "output directory missing": (
        "apply --rule {B}/ml_rule.json --scores {D}/ml_test_scores.npy -o {O}/no/p.npy",
        "does not exist",
    ),
    "existing report": (
        "compare --scores {D}/ml_val_scores.npy --labels {D}/ml_val_labels.npy --report {B}/report",
        "already exists",
    ),
    "unknown file type": (
        "fit --scores {B}/scores.xlsx --labels {B}/y3.csv -o {O}/r.json",
        "unknown file type",
    ),
    "npz without key": (
        "fit --scores {D}/ml_val.npz --labels {D}/ml_val_labels.npy -o {O}/r.json",
        "several arrays",
    ),
    "npz wrong key": (
        "fit --scores {D}/ml_val.npz --key probs --labels {D}/ml_val_labels.npy -o {O}/r.json",
        "no array 'probs'",
    ),
    "corrupted npy": (
        "fit --scores {B}/garbage.npy --labels {B}/y3.csv -o {O}/r.json",
        "not a readable .npy",
    ),
    "id column missing": (
        "fit --scores {D}/bin_val_scores.csv --labels {D}/bin_val_labels.csv "
        "--id-column key -o {O}/r.json",
        "no column 'key'",
    ),
    "non-numeric parquet": (
        "apply --rule {B}/ml_rule.json --scores {B}/strings.parquet -o {O}/p.parquet",
        "holds string",
    ),
    "negative beta": (
        "fit --scores {D}/ml_val_scores.npy --labels {D}/ml_val_labels.npy --beta -1 -o {O}/r.json",
        "--beta",
    ),
    "beta not a number": (
        "fit --scores {D}/ml_val_scores.npy --labels {D}/ml_val_labels.npy "
        "--beta big -o {O}/r.json",
        "invalid float",
    ),
    "class ids out of range": (
        "fit --scores {D}/mc_val.parquet --score-columns p0,p1,p2 "
        "--labels {B}/mc_ids_big.npy --method weights -o {O}/r.json",
        "rows do not match|class ids must lie",
    ),
    "class ids not integers": (
        "evaluate --scores {D}/ml_val_scores.npy --labels {B}/mc_ids_frac.npy",
        "fractions",
    ),
    "no positive label": (
        "fit --scores {B}/s3.csv --labels {B}/nopos.csv --method global -o {O}/r.json",
        "no positive",
    ),
    "missing --output": ("fit --scores {B}/s3.csv --labels {B}/nopos.csv", "required"),
    "cv below 2": (
        "compare --scores {D}/ml_val_scores.npy --labels {D}/ml_val_labels.npy --cv 1",
        "--cv must be at least 2",
    ),
    "test files half given": (
        "compare --scores {D}/ml_val_scores.npy --labels "
        "{D}/ml_val_labels.npy --test-scores {D}/ml_test_scores.npy",
        "go together",
    ),
    "no command": ("", "required"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_matrix(name, data, bad, tmp_path, capsys):
    template, message = CASES[name]
    argv = template.format(D=data["dir"], B=bad, O=tmp_path).split()
    if argv and argv[0] != "demo":
        argv.insert(1, "--quiet")
    before = _snapshot(data["dir"], bad, tmp_path)
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err, err
    assert err.startswith("f1opt: error: "), err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert _snapshot(data["dir"], bad, tmp_path) == before  # nothing written or touched


def test_matrix_is_large_enough():
    assert len(CASES) >= 20


# ---------------------------------------------------------------------------
# in-process: finer behaviour


def test_force_replaces_output_and_auto_picks_a_method(data, tmp_path, capsys):
    d = data["dir"]
    rule = tmp_path / "r.json"
    rule.write_text("old")
    argv = [
        "fit",
        "--scores",
        str(d / "ml_val_scores.npy"),
        "--labels",
        str(d / "ml_val_labels.npy"),
        "-o",
        str(rule),
        "--cv",
        "3",
        "--quiet",
        "--force",
    ]
    assert main(argv) == 0  # auto never trains the stretcher: it enters only when asked
    out = capsys.readouterr().out
    assert "chosen" in out and "method:" in out
    import f1opt

    decider = f1opt.load(rule)
    assert type(decider).__name__ in ("DefaultDecision", "GlobalThreshold", "PerClassThreshold")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_fit_apply_csv_without_header_and_tsv(data, tmp_path, capsys):
    d = data["dir"]
    rule = tmp_path / "r.json"
    assert (
        main(
            [
                "fit",
                "--scores",
                str(d / "ml_val_scores.csv"),
                "--labels",
                str(d / "ml_val_labels.csv"),
                "--method",
                "global",
                "--average",
                "macro",
                "-o",
                str(rule),
                "-q",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "apply",
                "--rule",
                str(rule),
                "--scores",
                str(d / "ml_test_scores.csv"),
                "-o",
                str(tmp_path / "p.csv"),
                "-q",
            ]
        )
        == 0
    )
    (s, y), (st, _) = data["ml_val"], data["ml_test"]
    expected = GlobalThreshold(average="macro").fit(s, y).predict(st)
    got = np.loadtxt(tmp_path / "p.csv", delimiter=",", ndmin=2)
    np.testing.assert_array_equal(got, expected)  # no header written, as in the input
    tsv = tmp_path / "scores.tsv"
    np.savetxt(tsv, st, delimiter="\t", fmt="%.17g", header="a\tb\tc\td", comments="")
    assert (
        main(
            [
                "apply",
                "--rule",
                str(rule),
                "--scores",
                str(tsv),
                "-o",
                str(tmp_path / "p.tsv"),
                "-q",
            ]
        )
        == 0
    )
    lines = (tmp_path / "p.tsv").read_text().splitlines()
    assert lines[0] == "a\tb\tc\td"
    np.testing.assert_array_equal(np.loadtxt(lines[1:], delimiter="\t", ndmin=2), expected)


def test_evaluate_multiclass_matches_sklearn(data, capsys):
    d = data["dir"]
    assert (
        main(
            [
                "evaluate",
                "--scores",
                str(d / "mc_test.parquet"),
                "--score-columns",
                "p0,p1,p2",
                "--label-columns",
                "y",
                "-q",
            ]
        )
        == 0
    )
    got = _parse_evaluate(capsys.readouterr().out)
    p, y = data["mc_test"]
    for average in ("macro", "weighted", "micro"):
        want = sk_fbeta(y, p.argmax(axis=1), beta=1, average=average, labels=[0, 1, 2])
        assert got[average][0] == pytest.approx(want, abs=5e-5)


def test_beta_is_used(data, tmp_path, capsys):
    d = data["dir"]
    rule = tmp_path / "r.json"
    assert (
        main(
            [
                "fit",
                "--scores",
                str(d / "bin_val_scores.csv"),
                "--labels",
                str(d / "bin_val_labels.csv"),
                "--id-column",
                "id",
                "--method",
                "global",
                "--beta",
                "2",
                "-o",
                str(rule),
                "-q",
            ]
        )
        == 0
    )
    s, y = data["bin_val"]
    expected = GlobalThreshold(beta=2, average="binary").fit(s, y)
    import f1opt

    assert f1opt.load(rule).threshold_ == expected.threshold_


def test_dask_engine(data, tmp_path, capsys):
    pytest.importorskip("dask.dataframe")
    s, y = data["ml_val"]
    for part in range(3):
        rows = slice(part * 100, (part + 1) * 100)
        pq.write_table(
            pa.table({"a": s[rows, 0], "b": s[rows, 1], "ya": y[rows, 0], "yb": y[rows, 1]}),
            tmp_path / f"part-{part}.parquet",
        )
    rule = tmp_path / "r.json"
    assert (
        main(
            [
                "fit",
                "--engine",
                "dask",
                "--scores",
                str(tmp_path / "part-*.parquet"),
                "--score-columns",
                "a,b",
                "--label-columns",
                "ya,yb",
                "--method",
                "per_class",
                "-o",
                str(rule),
                "-q",
            ]
        )
        == 0
    )
    import f1opt

    expected = PerClassThreshold(average="micro").fit(s[:, :2], y[:, :2])
    np.testing.assert_array_equal(f1opt.load(rule).thresholds_, expected.thresholds_)
    # samples-F on Dask: the in-memory threshold
    args = ["fit", "--engine", "dask", "--scores", str(tmp_path / "part-*.parquet")]
    args += ["--score-columns", "a,b", "--label-columns", "ya,yb", "--average", "samples"]
    assert main([*args, "-o", str(tmp_path / "s.json"), "-q"]) == 0
    want = GlobalThreshold(average="samples").fit(s[:, :2], y[:, :2]).threshold_
    assert f1opt.load(tmp_path / "s.json").threshold_ == want


def test_unavailable_method_exits_2(data, tmp_path, capsys, monkeypatch):
    import dataclasses

    from f1opt import methods

    def missing(*args):
        raise ImportError("method 'stretcher' needs f1opt.stretch (test)")

    row = dataclasses.replace(methods.METHODS["stretcher"], build=missing)
    monkeypatch.setitem(methods.METHODS, "stretcher", row)
    d = data["dir"]
    status = main(
        [
            "fit",
            "--scores",
            str(d / "ml_val_scores.npy"),
            "--labels",
            str(d / "ml_val_labels.npy"),
            "--method",
            "stretcher",
            "-o",
            str(tmp_path / "r.json"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "method 'stretcher' needs f1opt.stretch" in err
    assert not (tmp_path / "r.json").exists()


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "fit" in capsys.readouterr().out


def test_inputs_are_never_touched(data, runs):
    # every subprocess and in-process command above read these files; none changed
    assert _snapshot(data["dir"]) == data["hashes"]


# ---------------------------------------------------------------------------
# rules a user can trust: one row decides as inside the whole file, batch rules say so


def test_auto_rule_decides_one_row_as_inside_the_whole_file(data, tmp_path, capsys):
    d = data["dir"]
    rule = tmp_path / "auto.json"
    fit = f"fit --scores {d}/bin_val_scores.csv --labels {d}/bin_val_labels.csv --id-column id"
    assert main([*fit.split(), "--method", "auto", "-o", str(rule), "-q"]) == 0
    st, _ = data["bin_test"]
    np.save(tmp_path / "all.npy", st)
    assert (
        main(
            [
                "apply",
                "--rule",
                str(rule),
                "--scores",
                str(tmp_path / "all.npy"),
                "-o",
                str(tmp_path / "all_pred.npy"),
                "-q",
            ]
        )
        == 0
    )
    whole = np.load(tmp_path / "all_pred.npy")
    loaded = __import__("f1opt").load(rule)
    threshold = getattr(loaded, "threshold_", 0.5)
    # the rows nearest the rule's threshold, and the smallest score
    rows = list(np.argsort(np.abs(st - threshold))[:3]) + [int(np.argmin(st))]
    for row in rows:
        np.save(tmp_path / "one.npy", st[row : row + 1])
        assert (
            main(
                [
                    "apply",
                    "--rule",
                    str(rule),
                    "--scores",
                    str(tmp_path / "one.npy"),
                    "-o",
                    str(tmp_path / "one_pred.npy"),
                    "-q",
                    "--force",
                ]
            )
            == 0
        )
        assert np.load(tmp_path / "one_pred.npy")[0] == whole[row]


def test_batch_rule_needs_batch_flag(data, tmp_path, capsys):
    d = data["dir"]
    rule = tmp_path / "batch.json"
    fit = f"fit --scores {d}/bin_val_scores.csv --labels {d}/bin_val_labels.csv --id-column id"
    assert main([*fit.split(), "--method", "expected", "-o", str(rule)]) == 0
    assert "--batch" in capsys.readouterr().err
    apply = f"apply --rule {rule} --scores {d}/bin_test_scores.csv --id-column id"
    assert main([*apply.split(), "-o", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "batch rule" in err and "--batch" in err and err.count("\n") == 1
    assert not (tmp_path / "p.csv").exists()
    assert main([*apply.split(), "-o", str(tmp_path / "p.csv"), "--batch"]) == 0
    assert "is a batch rule" in capsys.readouterr().err


def test_auto_on_labels_without_positive_saves_nothing(data, tmp_path, capsys):
    s, _ = data["bin_val"]
    np.save(tmp_path / "s.npy", s)
    np.save(tmp_path / "y.npy", np.zeros(s.size, dtype=int))
    argv = ["fit", "--scores", str(tmp_path / "s.npy"), "--labels", str(tmp_path / "y.npy")]
    assert main([*argv, "-o", str(tmp_path / "r.json"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "no positive" in err and err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()


def test_every_value_error_of_a_rule_file_exits_2(data, tmp_path, capsys, monkeypatch):
    import f1opt
    import f1opt.cli as cli

    error = getattr(f1opt, "RuleFileError", None) or type("RuleFileError", (ValueError,), {})

    def bad(path):
        raise error("rule.json: the thresholds are\nnot finite")

    monkeypatch.setattr(cli, "_load_rule", bad)
    d = data["dir"]
    argv = ["apply", "--rule", "rule.json", "--scores", str(d / "ml_test_scores.npy")]
    assert main([*argv, "-o", str(tmp_path / "p.npy")]) == 2
    err = capsys.readouterr().err
    assert err == "f1opt: error: rule.json: the thresholds are not finite\n"


@pytest.mark.parametrize("kind", ["multilabel", "binary"])
def test_compare_report_names_and_command_reproduce_the_chosen_rule(
    kind, tmp_path, monkeypatch, capsys
):
    """The report gets the files' label names, and its `f1opt fit` line refits the chosen rule."""
    import html
    import shlex

    from f1opt import load, report

    rng = np.random.default_rng(3)
    if kind == "multilabel":
        s, y = _multilabel(rng, 240)
        names = ["joy", "fear", "calm", "awe"]
        _write_csv(tmp_path / "scores.csv", {n: s[:, j].tolist() for j, n in enumerate(names)})
        _write_csv(tmp_path / "labels.csv", {n: y[:, j].tolist() for j, n in enumerate(names)})
        data_args = ["--scores", "scores.csv", "--labels", "labels.csv"]
    else:
        s, y = _binary(rng, 240)
        names = ["spam"]
        text = np.where(y == 1, "spam", "ham").tolist()
        _write_csv(tmp_path / "both.csv", {"score": s.tolist(), "kind": text})
        data_args = ["--scores", "both.csv", "--label-columns", "kind", "--pos-label", "spam"]
    monkeypatch.chdir(tmp_path)
    seen = []
    original = report.write_report

    def keep(directory, sections, **kwargs):
        seen.extend(sections)
        return original(directory, sections, **kwargs)

    monkeypatch.setattr(report, "write_report", keep)
    args = ["compare", *data_args, "--cv", "3", "--repeats", "1", "--report", "rep", "-q"]
    assert main(args) == 0
    (section,) = seen
    assert section.label_names == names
    chosen = section.comparison.chosen
    text = (tmp_path / "rep" / "index.html").read_text()
    command = html.unescape(re.search(r"<pre>(f1opt fit [^<]*)</pre>", text).group(1))
    argv = shlex.split(command)[1:]
    assert argv[argv.index("--method") + 1] == chosen.method
    capsys.readouterr()
    assert main(argv + ["-q"]) == 0, capsys.readouterr().err
    rule = load(tmp_path / "rule.json")
    assert type(rule) is type(chosen.decider)
    for attribute in ("threshold_", "thresholds_"):
        if hasattr(chosen.decider, attribute):
            np.testing.assert_array_equal(
                getattr(rule, attribute), getattr(chosen.decider, attribute)
            )


def _subcommands(parser):
    import argparse

    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def test_every_option_has_help_and_every_command_an_example():
    import argparse
    import shlex

    from f1opt.cli import build_parser

    parser = build_parser()
    commands = _subcommands(parser)
    assert set(commands) == {"fit", "apply", "evaluate", "compare", "demo"}
    for name, sub in {"f1opt": parser, **commands}.items():
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.option_strings)
            assert len(action.help.split()) >= 2, (name, action.option_strings, action.help)
        epilog = sub.epilog or ""
        assert "examples:" in epilog, f"{name} --help shows no example"
        assert isinstance(sub.formatter_class, type) and issubclass(
            sub.formatter_class, argparse.RawDescriptionHelpFormatter
        )  # the example lines keep their line breaks
        joined = epilog.replace("\\\n", " ")
        lines = [line.strip() for line in joined.splitlines() if line.strip().startswith("f1opt ")]
        assert lines, f"{name} --help has no command line among its examples"
        for line in lines:  # every example parses with the real parser
            argv = shlex.split(line)[1:]
            if name != "f1opt":
                assert argv[0] == name, line
            parser.parse_args(argv)


def test_help_of_each_command_prints_its_example(capsys):
    for name in ("fit", "apply", "evaluate", "compare", "demo"):
        assert main([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"f1opt {name} " in out + " "


def _named_multiclass(tmp_path, rng, n=300):
    p, y = _multiclass(rng, n)
    names = np.array(["cat", "dog", "bird"])
    ids = [f"r{i}" for i in range(n)]
    columns = {"id": ids, **{c: p[:, k].tolist() for k, c in enumerate(names)}}
    _write_csv(tmp_path / "proba.csv", columns)
    _write_csv(tmp_path / "labels.csv", {"id": ids, "animal": names[y].tolist()})
    return p, y, names


def test_multiclass_rule_keeps_class_names_and_apply_writes_them(tmp_path, capsys):
    import csv

    from f1opt import ClassWeights, load

    p, y, names = _named_multiclass(tmp_path, np.random.default_rng(5))
    rule_path = tmp_path / "rule.json"
    args = [
        "fit",
        "--scores",
        str(tmp_path / "proba.csv"),
        "--labels",
        str(tmp_path / "labels.csv"),
    ]
    assert main([*args, "--method", "weights", "-o", str(rule_path), "-q"]) == 0
    assert json.loads(rule_path.read_text())["class_names"] == list(names)
    rule = load(rule_path)
    assert rule.class_names_ == list(names)
    out = tmp_path / "pred.csv"
    assert (
        main(
            [
                "apply",
                "--rule",
                str(rule_path),
                "--scores",
                str(tmp_path / "proba.csv"),
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    assert "class names" in capsys.readouterr().out
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "prediction"]
    want = names[ClassWeights().fit(p, y).predict(p)]
    assert [r[1] for r in rows[1:]] == want.tolist()
    assert [r[0] for r in rows[1:3]] == ["r0", "r1"]
    # saving the loaded rule again keeps the names
    rule.save(tmp_path / "again.json")
    assert load(tmp_path / "again.json").class_names_ == list(names)


def test_class_ids_stay_ids(data, tmp_path):
    from f1opt import load

    d = data["dir"]
    rule_path = tmp_path / "rule.json"
    args = ["fit", "--scores", str(d / "mc_val.parquet"), "--label-columns", "y"]
    assert main([*args, "--method", "weights", "-o", str(rule_path), "-q"]) == 0
    assert "class_names" not in json.loads(rule_path.read_text())
    assert not hasattr(load(rule_path), "class_names_")


@pytest.mark.parametrize(
    "names, problem",
    [
        (["cat", "dog"], "must be a list of 3 strings"),
        ("cat,dog,bird", "must be a list of 3 strings"),
        (["cat", "dog", 3], "class_names[2]"),
        (["cat", "dog", ""], "class_names[2]"),
        (["cat", "dog", "x" * 1001], "class_names[2]"),
        (["cat", "dog", "cat"], "same name twice"),
        ([["cat"], "dog", "bird"], "class_names[0]"),
    ],
)
def test_hostile_class_names_are_refused(tmp_path, names, problem):
    from f1opt import RuleFileError, load

    p, y, _ = _named_multiclass(tmp_path, np.random.default_rng(5), n=60)
    rule_path = tmp_path / "rule.json"
    args = [
        "fit",
        "--scores",
        str(tmp_path / "proba.csv"),
        "--labels",
        str(tmp_path / "labels.csv"),
    ]
    assert main([*args, "--method", "default", "-o", str(rule_path), "-q"]) == 0
    document = json.loads(rule_path.read_text())
    assert document["class_names"] == ["cat", "dog", "bird"]  # the default rule keeps them too
    document["class_names"] = names
    rule_path.write_text(json.dumps(document))
    with pytest.raises(RuleFileError, match=re.escape(problem)):
        load(rule_path)


def test_class_names_of_a_binary_rule_are_two(tmp_path):
    from f1opt import GlobalThreshold, PerClassThreshold, RuleFileError, load

    rule_path = tmp_path / "rule.json"
    GlobalThreshold().fit(np.array([0.1, 0.8, 0.6]), np.array([0, 1, 1])).save(rule_path)
    document = json.loads(rule_path.read_text())
    document["class_names"] = ["no", "yes"]
    rule_path.write_text(json.dumps(document))
    assert load(rule_path).class_names_ == ["no", "yes"]
    document["class_names"] = ["no", "yes", "maybe"]
    rule_path.write_text(json.dumps(document))
    with pytest.raises(RuleFileError, match="must be a list of 2 strings"):
        load(rule_path)
    y = np.array([[0, 1], [1, 1], [1, 0]])
    PerClassThreshold().fit(np.array([[0.1, 0.8], [0.6, 0.7], [0.9, 0.2]]), y).save(rule_path)
    document = json.loads(rule_path.read_text())
    document["class_names"] = ["no", "yes"]
    rule_path.write_text(json.dumps(document))
    with pytest.raises(RuleFileError, match="only for multiclass and binary rules"):
        load(rule_path)


@pytest.mark.parametrize(
    "labels, pos_label, names",
    [
        (("stay", "churn"), "churn", ["stay", "churn"]),
        (("-1", "1"), "1", ["-1", "1"]),
        (("0", "1"), "0", ["1", "0"]),
        (("0", "1"), "1", None),
    ],
)
def test_binary_apply_writes_the_labels(tmp_path, capsys, labels, pos_label, names):
    import csv

    from f1opt import GlobalThreshold, load

    rng = np.random.default_rng(3)
    y = (rng.random(120) < 0.3).astype(int)
    scores = np.round(np.clip(0.4 * y + 0.6 * rng.random(120), 0, 1), 4)
    ids = [f"r{i}" for i in range(120)]
    _write_csv(tmp_path / "s.csv", {"id": ids, "score": scores.tolist()})
    _write_csv(tmp_path / "y.csv", {"id": ids, "label": [labels[t] for t in y]})
    positive = 1 if pos_label == labels[1] else 0
    rule_path = tmp_path / "rule.json"
    args = ["fit", "--scores", str(tmp_path / "s.csv"), "--labels", str(tmp_path / "y.csv")]
    assert main([*args, "--pos-label", pos_label, "--method", "global", "-o", str(rule_path)]) == 0
    assert getattr(load(rule_path), "class_names_", None) == names
    out = tmp_path / "pred.csv"
    apply = ["apply", "--rule", str(rule_path), "--scores", str(tmp_path / "s.csv")]
    assert main([*apply, "-o", str(out), "-q"]) == 0
    with open(out, newline="") as handle:
        written = [r[1] for r in list(csv.reader(handle))[1:]]
    decisions = GlobalThreshold().fit(scores, (y == positive).astype(int)).predict(scores)
    if names is None:
        assert written == [str(d) for d in decisions]
    else:
        assert written == [names[d] for d in decisions]
        assert "class names" in capsys.readouterr().out


@pytest.mark.parametrize("objective", ["pooled", "fold_mean"])
def test_fit_global_objective_is_the_comparison_candidates(tmp_path, objective):
    from f1opt.compare import compare

    rng = np.random.default_rng(5)
    y = (rng.random(300) < 0.3).astype(int)
    s = np.clip(0.3 * y + 0.7 * rng.random(300), 0, 1)
    np.save(tmp_path / "s.npy", s)
    np.save(tmp_path / "y.npy", y)
    code = main(
        f"fit -q --scores {tmp_path}/s.npy --labels {tmp_path}/y.npy --method global "
        f"--objective {objective} --cv 4 --seed 3 -o {tmp_path}/rule.json".split()
    )
    assert code == 0
    rule = json.loads((tmp_path / "rule.json").read_text())
    want = compare(
        s,
        y,
        target="binary",
        average="binary",
        methods=["global"],
        cv=4,
        random_state=3,
        n_repeats=1,
        n_bootstrap=0,
        objective=objective,
    )["global"].decider
    assert float(rule["fitted"]["threshold_"]) == want.threshold_
    if objective == "pooled":
        assert want.threshold_ == GlobalThreshold().fit(s, y).threshold_
