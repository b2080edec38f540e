import pytest
import torch

from causalphys.atomic import save_torch
from causalphys.nets import MLP
from causalphys.trainers import ERM, CheckpointError, NotFittedError
from causalphys.trainers.checkpoint import latest_checkpoint, step_checkpoints

from .data import same_weights, separable

ENVS = separable(n=40)


def _net():
    return MLP(5, 2, hidden=(8,), dropout=0.2)


def _trainer(**kwargs):
    settings = {"lr": 1e-2, "batch_size": 8, "steps": 12, "progress": False} | kwargs
    return ERM(**settings)


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    trainer = _trainer().fit(_net(), ENVS)
    path = trainer.save(tmp_path / "sub" / "erm.pt")
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["step"] == 12 and raw["hparams"]["lr"] == 1e-2 and raw["trainer"] == "ERM"

    other = _trainer(seed=5).load(path, net=MLP(5, 2, hidden=(8,), dropout=0.2))
    x = ENVS["env1"][0]
    assert torch.equal(other.predict(x), trainer.predict(x))
    assert other.step_ == 12 and other.history_ == trainer.history_ and other.input_shape_ == (5,)
    assert other.optimizer_.state_dict()["state"][0]["exp_avg"].equal(
        trainer.optimizer_.state_dict()["state"][0]["exp_avg"]
    )
    assert other.env_names_ == ["env0", "env1"]


def test_a_failed_write_leaves_no_partial_file_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    trainer = _trainer().fit(_net(), ENVS)
    path = trainer.save(tmp_path / "erm.pt")
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        trainer.save(path)
    with pytest.raises(OSError, match="disk full"):
        save_torch({"a": 1}, tmp_path / "new.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["erm.pt"]
    assert path.read_bytes() == before


def test_resume_after_a_crash_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    straight = _trainer(steps=23).fit(_net(), ENVS)

    crashing = _trainer(steps=23, checkpoint_every=5, checkpoint_dir=tmp_path)
    original_update = crashing.update

    def update(batches):
        if crashing.step_ == 17:
            raise KeyboardInterrupt
        return original_update(batches)

    crashing.update = update
    with pytest.raises(KeyboardInterrupt):
        crashing.fit(_net(), ENVS)
    assert list(step_checkpoints(tmp_path)) == [15]  # only the newest is kept

    resumed = _trainer(steps=23, checkpoint_every=5, checkpoint_dir=tmp_path, progress=True).fit(_net(), ENVS)
    assert same_weights(resumed.net_, straight.net_)
    assert resumed.history_ == straight.history_
    assert latest_checkpoint(tmp_path).name == "step_00000023.pt"  # the end of fit is checkpointed too

    again = _trainer(steps=23, checkpoint_every=5, checkpoint_dir=tmp_path).fit(_net(), ENVS)  # nothing left to do
    assert same_weights(again.net_, straight.net_) and len(again.history_) == 23
    longer = _trainer(steps=25, checkpoint_every=5, checkpoint_dir=tmp_path).fit(_net(), ENVS)
    assert longer.step_ == 25 and len(longer.history_) == 25


def test_resume_refuses_a_checkpoint_from_other_settings(tmp_path):
    _trainer(checkpoint_every=4, checkpoint_dir=tmp_path).fit(_net(), ENVS)
    with pytest.raises(CheckpointError, match=r"hyper-parameters differ \(lr: 0.01 -> 0.02\)"):
        _trainer(lr=2e-2, checkpoint_every=4, checkpoint_dir=tmp_path).fit(_net(), ENVS)
    with pytest.raises(CheckpointError, match=r"step 12, past steps=8"):
        _trainer(steps=8, checkpoint_every=4, checkpoint_dir=tmp_path).fit(_net(), ENVS)
    with pytest.raises(CheckpointError, match="env_names"):
        _trainer(checkpoint_every=4, checkpoint_dir=tmp_path).fit(_net(), {"a": ENVS["env0"], "b": ENVS["env1"]})


def test_load_errors_name_the_problem(tmp_path):
    path = _trainer(steps=2).fit(_net(), ENVS).save(tmp_path / "erm.pt")

    class Other(ERM):
        pass

    with pytest.raises(CheckpointError, match="written by ERM, not Other"):
        Other().load(path, net=_net())
    with pytest.raises(CheckpointError, match="the net does not fit the checkpoint"):
        ERM().load(path, net=MLP(5, 2, hidden=(9,)))
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        ERM().load(tmp_path / "missing.pt", net=_net())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is damaged or not a torch checkpoint"):
        ERM().load(tmp_path / "junk.pt", net=_net())
    with pytest.raises(NotFittedError, match="load needs a net"):
        ERM().load(path)
    with pytest.raises(NotFittedError):
        ERM().save(tmp_path / "nothing.pt")


def test_resume_refuses_a_checkpoint_trained_on_other_data(tmp_path):
    """The checkpoint records a digest of its training data: same settings, other data (an edited scanner yaml, a
    changed file) is not a resume — it used to continue silently from weights fitted on the old data."""
    _trainer(steps=6, checkpoint_every=3, checkpoint_dir=tmp_path).fit(_net(), ENVS)
    other = {env: (x + 0.5, y) for env, (x, y) in ENVS.items()}
    with pytest.raises(CheckpointError, match="trained on other data"):
        _trainer(steps=12, checkpoint_every=3, checkpoint_dir=tmp_path).fit(_net(), other)
    resumed = _trainer(steps=12, checkpoint_every=3, checkpoint_dir=tmp_path).fit(_net(), ENVS)  # the same data
    assert resumed.step_ == 12


@pytest.mark.parametrize("damage", ["cut", "foreign"])
def test_a_damaged_checkpoint_is_explained_in_words(tmp_path, damage):
    """torch's own words were "[Errno 22] Invalid argument" (a cut-off file) or a lecture on weights_only (another
    file): the error now says what is wrong and what to do (issue 19, smaller items)."""
    _trainer(steps=4, checkpoint_every=2, checkpoint_dir=tmp_path).fit(_net(), ENVS)
    path = latest_checkpoint(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "cut" else b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"is damaged or not a torch checkpoint: cut off .* Delete it") as err:
        _trainer(steps=6, checkpoint_every=2, checkpoint_dir=tmp_path).fit(_net(), ENVS)
    assert "Errno" not in str(err.value).split("(torch:")[0]


def test_a_checkpoint_dir_that_is_a_file_is_refused_up_front(tmp_path):
    (tmp_path / "ck").write_text("x")
    with pytest.raises(ValueError, match="checkpoint_dir .* is a file, not a folder"):
        _trainer(checkpoint_every=2, checkpoint_dir=tmp_path / "ck")
