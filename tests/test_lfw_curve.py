"""LFW View 1 during pretraining (`--lfw-eval-every`, `zoo.pretrain.lfw_curve`): points kept by step, a
resume re-measures what came after its checkpoint, a damaged curve file starts over. A real run with the
flag, and its resume, is in tests/test_distil.py (the distillation run)."""
from __future__ import annotations

import pytest

from zoo.pretrain import lfw_curve


def _result(acc):
    return {"accuracy": acc, "pairs": 20, "subset": True, "seconds": 1.0}


def test_points_are_kept_by_step_replaced_dropped_after_a_resume_and_plotted(tmp_path):
    assert lfw_curve.read_curve(tmp_path) == []
    for step, acc in ((10, 0.55), (5, 0.52), (20, 0.6)):
        lfw_curve.add_point(tmp_path, step, _result(acc))
    assert [p["step"] for p in lfw_curve.read_curve(tmp_path)] == [5, 10, 20]
    lfw_curve.add_point(tmp_path, 10, _result(0.57))                 # the same step again: replaced
    assert [p["accuracy"] for p in lfw_curve.read_curve(tmp_path)] == [0.52, 0.57, 0.6]
    lfw_curve.keep_until(tmp_path, 12)                               # resumed from step 12's checkpoint
    assert [p["step"] for p in lfw_curve.read_curve(tmp_path)] == [5, 10]
    assert (tmp_path / "lfw_view1.png").stat().st_size > 1000
    (tmp_path / lfw_curve.CURVE).write_text("[{half")
    assert lfw_curve.read_curve(tmp_path) == []                      # damaged: starts over, no crash


def test_the_cli_explains_the_flag(capsys, monkeypatch):
    import sys

    from recipes.pretrain_encoder import main
    monkeypatch.setattr(sys, "argv", ["facezoo pretrain", "--help"])
    with pytest.raises(SystemExit):
        main()
    assert "--lfw-eval-every" in capsys.readouterr().out
