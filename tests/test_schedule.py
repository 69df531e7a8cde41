"""Freeze schedules as typed selectors (`Frozen`, `All`, `TopK`, `Pattern`), and bound once to an encoder."""
import pytest

from zoo.errors import ScheduleError
from zoo.schedule import (All, BoundSchedule, FreezeSchedule, Frozen, Pattern, Stage, TopK, apply_stage,
                          bind_schedule, parse_selector, trainable_label)

from _support import SIZE, RandomPairs, tiny_encoder


@pytest.mark.parametrize("text,selector,canonical", [
    ("frozen", Frozen(), "frozen"), ("none", Frozen(), "frozen"), ("freeze", Frozen(), "frozen"),
    ("all", All(), "all"), ("open", All(), "all"), ("top2", TopK(2), "top2"), ("TOP12", TopK(12), "top12"),
    ("pattern:block6*", Pattern("block6*"), "pattern:block6*"), ("pattern: conv_?", Pattern("conv_?"), "pattern:conv_?"),
])
def test_selector_text_round_trip(text, selector, canonical):
    assert parse_selector(text) == selector
    assert str(selector) == canonical
    assert parse_selector(str(selector)) == selector
    assert parse_selector(selector) is selector


def test_schedule_round_trip_keeps_the_saved_text():
    """`to_string()` is what state.json and the committed benchmark results hold: parse -> str -> parse."""
    text = ("frozen@0; top3@2000:lr=0.1; pattern:block6*@plateau(window=30,threshold=0.02):lr=0.5; "
            "all@plateau(window=50,threshold=0.01,min_steps=200)")
    s = FreezeSchedule.parse(text)
    assert [type(st.trainable) for st in s.stages] == [Frozen, TopK, Pattern, All]
    assert s.to_string() == text and str(s) == text
    assert FreezeSchedule.parse(str(s)) == s
    assert FreezeSchedule.parse("none; top2@5").to_string() == "frozen@0; top2@5"


def test_stage_still_takes_text_and_says_what_it_trains():
    assert Stage("none") == Stage(Frozen()) and Stage("top2").trainable == TopK(2)
    assert Stage("none").frozen and not Stage("all").frozen
    assert Stage("none").lr_multiplier == 0.0 and Stage("top2").lr_multiplier == 1.0
    assert Stage("none", lr=0.5).lr_multiplier == 0.5
    assert Stage("top3").top_k == 3 and Stage("all").top_k is None
    assert FreezeSchedule.constant("none").stages == (Stage(Frozen(), 0),)
    assert FreezeSchedule().stages[0].frozen


def test_history_records_keep_none_for_frozen_and_read_both():
    """Run histories and results files record a frozen stage as "none" (old runs too); people read "frozen"."""
    assert [s.trainable.record for s in FreezeSchedule.parse("frozen; top2@3; pattern:c*@4; all@6").stages] == [
        "none", "top2", "pattern:c*", "all"]
    assert [trainable_label(t) for t in ("none", "frozen", "top2", "all", TopK(1))] == [
        "frozen", "frozen", "top2", "all", "top1"]
    assert trainable_label("something else") == "something else"


@pytest.mark.parametrize("text,needle", [
    ("frozen; topx@plateau", "Unknown stage 'topx' in 'topx@plateau'"),
    ("frozen; top0@10", "topK needs K >= 1 in stage 'top0@10'"),
    ("frozen; pattern:@10", "Unknown stage"),
    ("frozen; top2@500; all@400", "overlaps"),
    ("frozen; all", "needs a start"),
])
def test_selector_errors_keep_their_messages(text, needle):
    with pytest.raises(ScheduleError, match=needle):
        FreezeSchedule.parse(text)


def test_selector_constructors_refuse_bad_values():
    with pytest.raises(ScheduleError, match="K >= 1"):
        TopK(0)
    with pytest.raises(ScheduleError, match="needs a glob"):
        Pattern(" ")
    with pytest.raises(ScheduleError, match="Unknown stage 'half'"):
        Stage("half")


def test_bind_resolves_each_stage_on_a_tiny_encoder():
    enc = tiny_encoder()
    bound = FreezeSchedule.parse("frozen; pattern:c3@2; pattern:c*@4; all@6").bind(enc)
    assert isinstance(bound, BoundSchedule) and bound.encoder is enc
    assert bound.stages == bound.schedule.stages and str(bound) == str(bound.schedule)
    assert [[layer.name for layer in bound.layers_of(i)] for i in range(4)] == [
        [], ["c3"], ["c1", "c2", "c3"], [layer.name for layer in enc.layers]]
    assert bind_schedule(bound, enc) is bound, "a schedule bound to this encoder is used as it is"
    assert FreezeSchedule.parse(bound) is bound and bound.bind(enc) is bound
    assert bind_schedule(bound, tiny_encoder()) is not bound, "another encoder is bound afresh"
    assert apply_stage(enc, bound, bound.stages[1]) == 2  # c3's kernel and bias
    assert [layer.name for layer in enc.layers if layer.trainable and layer.weights] == ["c3"]
    assert apply_stage(enc, bound, bound.stages[0]) == 0 and not enc.trainable


def test_bind_errors_name_the_stage_and_the_encoder():
    enc = tiny_encoder()
    with pytest.raises(ScheduleError, match=r"Stage 2 pattern 'pattern:block\*' matches no layer of encoder "
                                            r"'tiny_encoder' \(layers are named like c1, c2, c3, \.\.\.\)"):
        FreezeSchedule.parse("frozen; pattern:block*@10").bind(enc)
    with pytest.raises(ScheduleError, match="Cannot find backbone blocks in encoder 'tiny_encoder'"):
        FreezeSchedule.parse("frozen; top2@10").bind(enc)


def test_train_pair_validates_the_schedule_once(tmp_path, monkeypatch):
    """`train_pair` binds the schedule to the encoder once; the trainer, its stage changes and the stage
    switch use the bound layers instead of reading the encoder's blocks again."""
    import zoo
    import zoo.blocks
    from zoo.training import TrainConfig, train_pair

    calls = []
    real = zoo.blocks.encoder_blocks

    def counted(model):
        calls.append(model.name)
        return real(model)

    monkeypatch.setattr(zoo.blocks, "encoder_blocks", counted)
    enc = zoo.build_encoder("mobilenet-face", input_size=SIZE)
    config = TrainConfig(steps=2, chunk=1, checkpoint_every=100, preview_every=100, tensorboard=False,
                         calibrate_batchnorm=False, stage_switch="recompile")
    trainer = train_pair(encoder=enc, folders={"a": tmp_path / "a", "b": tmp_path / "b"}, run_dir=tmp_path / "run",
                         schedule="frozen; top2@1; all@5", size=SIZE, decoder_width=16, dataset=RandomPairs(),
                         config=config, build_only=True)
    assert isinstance(trainer.schedule, BoundSchedule) and trainer.schedule.encoder is enc
    assert len(calls) == 1, f"the encoder's blocks were read {len(calls)} times, not once"
    trainer.train(2, finalize=False)
    assert trainer.stage.trainable == TopK(2) and [h["trainable"] for h in trainer.history] == ["none", "top2"]
    assert len(calls) == 1, "a stage change read the encoder's blocks again"
    from zoo.training.switch import StageSwitch
    assert StageSwitch(trainer.model, trainer.schedule).schedule is trainer.schedule
    assert len(calls) == 1
