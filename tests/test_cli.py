"""The CLI end to end, and every bad input the issue lists: exit 2 and one line, no traceback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import TINY

from slavik_tui.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(capsys, argv, *needles: str) -> str:
    code, _out, err = run(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("slavik-tui: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]


@pytest.fixture
def trained(capsys, models_dir, corpus_file) -> str:
    code, _, err = run(capsys, "new", "tiny", "--data", corpus_file, *TINY)
    assert code == 0, err
    code, out, err = run(capsys, "train", "tiny", "--iters", "20", "--batch-size", "4",
                         "--eval-every", "10", "--save-every", "10", "--dtype", "fp32")
    assert code == 0, err
    return "tiny"


def test_end_to_end(capsys, trained, models_dir, tmp_path):
    code, out, err = run(capsys, "generate", trained, "Привет, как дела", "--max-tokens", "20",
                         "--seed", "1")
    assert code == 0, err
    assert out.startswith("Привет, как дела") and len(out) > len("Привет, как дела\n")

    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    (info,) = json.loads(out)
    assert info["name"] == "tiny" and info["trained"] is True and info["steps"] == 20
    assert info["layers"] == 1 and info["heads"] == 2 and info["d_model"] == 32
    assert info["datasets"] == 1 and info["last_loss"] > 0 and info["size_mb"] > 0
    code, out, _ = run(capsys, "models")
    assert "tiny" in out and "✓" in out
    header, row = (line.split() for line in out.splitlines()[:2])
    assert header[:5] == ["name", "size", "MB", "history", "MB"]
    # size = the checkpoint (weights + optimizer), as the app and the chart show it
    assert row[1] == f"{info['checkpoint_mb']:.2f}" and row[2] == f"{info['history_mb']:.2f}"

    code, out, _ = run(capsys, "runs", trained, "--json")
    (r,) = json.loads(out)
    assert r["status"] == "finished" and r["last_step"] == 20 and r["final_loss"] > 0

    out_csv = tmp_path / "run.csv"
    code, out, err = run(capsys, "runs", trained, "--csv", str(r["id"]), out_csv)
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert sum(1 for row in rows if row["loss"]) == 20

    for fmt in ("weights", "bf16"):
        dest = tmp_path / f"w-{fmt}.safetensors"
        code, _, err = run(capsys, "export", trained, dest, "--format", fmt)
        assert code == 0, err and dest.stat().st_size > 0

    # train continues from the last checkpoint: --iters counts new steps
    code, out, err = run(capsys, "train", trained, "--iters", "5", "--batch-size", "4",
                         "--dtype", "fp32")
    assert code == 0, err
    code, out, _ = run(capsys, "models", "--json")
    assert json.loads(out)[0]["steps"] == 25


def test_bad_inputs(capsys, models_dir, corpus_file, tmp_path):
    t = tmp_path
    (t / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (t / "empty.txt").write_text("")
    (t / "utf16.txt").write_text("Привет, мир! " * 300, encoding="utf-16")
    (t / "cp1251.txt").write_bytes(("Привет, как дела? " * 400).encode("cp1251"))
    (t / "short.txt").write_text("Коротко.", encoding="utf-8")

    def new(name, data, *extra):
        return ["new", name, "--data", data, *TINY, *extra]

    assert_user_error(capsys, new("a", t / "binary.txt"), "binary")
    assert_user_error(capsys, new("a", t / "empty.txt"), "empty")
    assert_user_error(capsys, new("a", t / "utf16.txt"), "utf-16")
    assert_user_error(capsys, new("a", t / "cp1251.txt"), "cp1251")
    assert_user_error(capsys, new("a", t / "short.txt"), "context")
    assert_user_error(capsys, new("a", t / "missing.txt"), "missing.txt")
    assert_user_error(capsys, ["new", "a", "--data", corpus_file, "--d-model", "250",
                               "--heads", "8"], "250", "8 heads")
    assert_user_error(capsys, ["new", "a", "--data", corpus_file, "--layers", "0"], "--layers")
    assert_user_error(capsys, ["new", "a", "--data", corpus_file, "--context", "-5"], "--context")
    assert_user_error(capsys, new("a/b", corpus_file), "a/b")
    assert_user_error(capsys, new("..", corpus_file), "..")
    assert_user_error(capsys, ["train", "nobody"], "unknown model", "nobody")
    assert_user_error(capsys, ["generate", "nobody", "hi"], "unknown model")
    assert_user_error(capsys, ["train", "x", "--bogus"], "--bogus")
    assert not [p for p in models_dir.iterdir()], "failed creations must leave nothing behind"

    # the cp1251 file works with the suggested flag
    code, _, err = run(capsys, *new("legacy", t / "cp1251.txt", "--encoding", "cp1251"))
    assert code == 0, err
    assert_user_error(capsys, ["train", "legacy", "--iters", "0"], "--iters")
    assert_user_error(capsys, ["train", "legacy", "--lr", "-1"], "--lr")
    assert_user_error(capsys, ["generate", "legacy", "hi"], "train it first")


def test_tampered_and_truncated_weights(capsys, trained, models_dir):
    weights = models_dir / trained / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[: len(original) // 2])
    assert_user_error(capsys, ["generate", trained, "hi"], "model.safetensors")
    tampered = bytearray(original)
    tampered[-10] ^= 0xFF
    weights.write_bytes(bytes(tampered))
    assert_user_error(capsys, ["generate", trained, "hi"], "checksum")
    weights.write_bytes(original)
    code, _, err = run(capsys, "generate", trained, "hi", "--max-tokens", "3")
    assert code == 0, err


def test_models_dir_flag_and_env(capsys, tmp_path, corpus_file, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    code, _, err = run(capsys, "--models-dir", elsewhere, "new", "m", "--data", corpus_file, *TINY)
    assert code == 0, err
    assert (elsewhere / "m" / "config.json").exists()
    monkeypatch.setenv("SLAVIK_MODELS_DIR", str(elsewhere))
    code, out, _ = run(capsys, "models", "--json")
    assert [m["name"] for m in json.loads(out)] == ["m"]
    code, out, _ = run(capsys, "models", "--models-dir", tmp_path / "empty", "--json")
    assert json.loads(out) == []


def test_unicode_model_name(capsys, models_dir, corpus_file):
    code, _, err = run(capsys, "new", "славик", "--data", corpus_file, *TINY)
    assert code == 0, err
    assert (models_dir / "славик" / "tokenizer.json").exists()
    assert_user_error(capsys, ["new", "славик", "--data", corpus_file, *TINY], "exists")


def test_help_runs(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "generate" in capsys.readouterr().out


def test_runs_csv_unknown_run(capsys, trained, tmp_path):
    assert_user_error(capsys, ["runs", trained, "--csv", "99", tmp_path / "x.csv"], "99")
    assert_user_error(capsys, ["runs", trained, "--csv", "abc", tmp_path / "x.csv"], "abc")


def test_stop_without_trainer(capsys, trained):
    assert_user_error(capsys, ["stop", trained], "no training is running")


def test_export_unknown_dest_format(capsys, trained, tmp_path):
    assert_user_error(capsys, ["export", trained, tmp_path / "x", "--format", "onnx"], "onnx")


def test_jsonl_and_csv_datasets(capsys, models_dir, tmp_path):
    from corpus import make_text

    text = make_text(20_000, seed=3).splitlines()
    jl = tmp_path / "d.jsonl"
    jl.write_text("\n".join(json.dumps({"text": line}, ensure_ascii=False) for line in text),
                  encoding="utf-8")
    cs = tmp_path / "d.csv"
    with cs.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "body"])
        for i, line in enumerate(text):
            w.writerow([i, line])
    code, _, err = run(capsys, "new", "j", "--data", jl, *TINY)
    assert code == 0, err
    assert_user_error(capsys, ["new", "c", "--data", cs, *TINY], "body")
    code, _, err = run(capsys, "new", "c", "--data", cs, "--column", "body", *TINY)
    assert code == 0, err
    manifest = json.loads((models_dir / "c" / "datasets.json").read_text())
    assert len(manifest) == 1 and manifest[0]["tokens"] > 1000
    assert Path(manifest[0]["path"]).name == "d.csv"
