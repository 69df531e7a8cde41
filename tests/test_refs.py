"""`zoo.refs.EncoderRef`: an encoder reference is parsed once, at the edge, and the parsed object goes down.

The count tests load real encoders (the shipped `mobilenet-face` preset, offline; a release published to a
local hub) with `EncoderRef.parse` and `parse_ref` wrapped so each call is counted; the real functions
still run."""
from __future__ import annotations

from pathlib import Path

import pytest

import hub
import zoo
import zoo.refs
import zoo.registry
from zoo.errors import UnknownEncoderError
from zoo.refs import ENTRY, PATH, PRESET, REPO, UNKNOWN, EncoderRef


@pytest.mark.parametrize("text,kind", [
    ("mobilenet-face", PRESET), ("mobilenet-face.lfw-v1", PRESET), ("mobilenet-face@v1", ENTRY),
    ("mobilenet-face.lfw-v1@v1", ENTRY), ("convnext-face", ENTRY), ("team/enc", REPO), ("team/enc@v2", REPO),
    ("no-such-encoder", UNKNOWN), ("./team/enc", PATH), ("../enc", PATH), ("/abs/enc", PATH), ("~/enc", PATH),
    ("enc.keras", PATH), ("team/enc.keras", PATH)])
def test_kinds(text, kind):
    assert EncoderRef.parse(text).kind == kind


def test_a_bare_repo_id_is_never_a_path_even_when_a_folder_has_its_name(tmp_path, monkeypatch):
    (tmp_path / "team" / "enc").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert EncoderRef.parse("team/enc").kind == REPO
    ref = EncoderRef.parse(Path("team/enc"))
    assert ref.kind == PATH and ref.path == Path("team/enc") and ref.text == "team/enc"


def test_the_facts_found():
    bare = EncoderRef.parse("mobilenet-face")
    assert (bare.name, bare.at, bare.revision, bare.preset.name) == ("mobilenet-face", None, None,
                                                                     "mobilenet-face.lfw-v1")
    assert bare.spec == zoo.get_spec("mobilenet-face") and bare.registered
    tagged = EncoderRef.parse("mobilenet-face.lfw-v1")
    assert tagged.spec == zoo.get_spec("mobilenet-face.lfw-v1") and tagged.spec.repo_id == tagged.preset.repo_id
    at = EncoderRef.parse("effnet-face-v2@v1")
    assert (at.kind, at.name, at.at, at.revision) == (ENTRY, "effnet-face-v2", "v1", "v1")
    assert at.spec == zoo.get_spec("effnet-face-v2")
    over = EncoderRef.parse("effnet-face-v2@v1", revision="v2")      # revision= overrides @v1
    assert (over.at, over.revision) == ("v1", "v2")
    repo = EncoderRef.parse("team/enc@v3")
    assert (repo.name, repo.revision, repo.spec, repo.preset, repo.registered) == ("team/enc", "v3", None, None, False)
    path = EncoderRef.parse("~/enc.keras")
    assert path.path == Path("~/enc.keras").expanduser() and path.revision is None and path.spec is None


def test_a_revision_sends_a_preset_to_the_hub_and_a_ref_passes_through():
    ref = EncoderRef.parse("mobilenet-face")
    assert EncoderRef.parse(ref) is ref
    moved = EncoderRef.parse(ref, revision="v1")
    assert (moved.kind, moved.revision, moved.preset) == (ENTRY, "v1", ref.preset)
    with pytest.raises(Exception):
        ref.kind = ENTRY  # frozen


def test_parse_errors_are_parse_refs():
    for bad in ("", "effnet-face-v2@"):
        with pytest.raises(UnknownEncoderError) as ours:
            EncoderRef.parse(bad)
        with pytest.raises(UnknownEncoderError) as theirs:
            zoo.parse_ref(bad)
        assert str(ours.value) == str(theirs.value)


@pytest.fixture
def parses(monkeypatch):
    """Counts of `EncoderRef.parse` and `parse_ref` calls (every module binding of `parse_ref`)."""
    counts = {"EncoderRef.parse": 0, "parse_ref": 0}
    real_parse, real_parse_ref = EncoderRef.parse.__func__, zoo.registry.parse_ref

    def counting_parse(cls, ref, **kwargs):
        if not isinstance(ref, EncoderRef):     # passing the parsed object down is not a parse
            counts["EncoderRef.parse"] += 1
        return real_parse(cls, ref, **kwargs)

    def counting_parse_ref(ref):
        counts["parse_ref"] += 1
        return real_parse_ref(ref)

    monkeypatch.setattr(EncoderRef, "parse", classmethod(counting_parse))
    monkeypatch.setattr(zoo.registry, "parse_ref", counting_parse_ref)
    monkeypatch.setattr(zoo.refs, "parse_ref", counting_parse_ref)
    return counts


def test_loading_the_shipped_preset_parses_once(isolated_home, monkeypatch, parses):
    monkeypatch.setenv("FACEZOO_HUB", "http://127.0.0.1:9")   # nothing listens: the preset loads offline
    encoder = zoo.load_encoder("mobilenet-face")
    assert zoo.encoder_info(encoder).preset == "mobilenet-face.lfw-v1"
    assert parses == {"EncoderRef.parse": 1, "parse_ref": 1}


def test_loading_and_training_from_a_local_hub_release_parse_once(isolated_home, parses):
    from zoo.training import prepare_encoder

    local = str(isolated_home / "hub")
    built = zoo.build_encoder("mobilenet-face", input_size=32)
    release = hub.publish(built, "facezoo/mobilenet-face", hub=local, tag="v1",
                          metadata={"spec": zoo.get_spec("mobilenet-face").to_dict()})
    for ref in ("mobilenet-face@v1", "facezoo/mobilenet-face"):
        for key in parses:
            parses[key] = 0
        encoder = zoo.load_encoder(ref, hub=local)
        assert zoo.encoder_info(encoder).revision == release.revision
        assert parses == {"EncoderRef.parse": 1, "parse_ref": 1}, ref
    for key in parses:
        parses[key] = 0
    encoder, info = prepare_encoder("mobilenet-face@v1", size=32, hub=local)   # what train_pair calls
    assert info["revision"] == release.revision and info["ref"] == "mobilenet-face@v1"
    assert parses == {"EncoderRef.parse": 1, "parse_ref": 1}
    for key in parses:
        parses[key] = 0
    encoder, info = prepare_encoder("mobilenet-face", size=32, pretrained=False)
    assert info == {"ref": "mobilenet-face", "pretrained": False}
    assert parses == {"EncoderRef.parse": 1, "parse_ref": 1}
