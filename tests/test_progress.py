"""ghostsym.progress: what a ``progress=`` argument turns into."""

import io

import pytest

from ghostsym.errors import InputError
from ghostsym.progress import NoProgress, TqdmProgress, as_meter


def test_true_is_a_tqdm_auto_bar_that_counts():
    meter = as_meter(True, unit="epoch")
    assert isinstance(meter, TqdmProgress)
    assert meter.auto and meter.unit == "epoch"
    meter.file = io.StringIO()
    meter.start(10, "train")
    import tqdm.auto

    assert isinstance(meter._bar, tqdm.auto.tqdm)
    meter.update(3, loss=0.5)
    assert meter._bar.n == 3
    meter.close()
    text = meter.file.getvalue()
    assert "train" in text and "3/10" in text and "loss=0.5" in text
    assert meter._bar is None


@pytest.mark.parametrize("off", [False, None])
def test_false_and_none_are_silent(off, capsys):
    meter = as_meter(off)
    assert isinstance(meter, NoProgress)
    meter.start(5, "x")
    meter.update(5)
    meter.close()
    assert capsys.readouterr() == ("", "")


def test_a_meter_is_used_as_it_is():
    class Counting:
        def __init__(self):
            self.n = 0

        def start(self, total, description=""):
            pass

        def update(self, n=1, **postfix):
            self.n += n

        def set_description(self, description):
            pass

        def close(self):
            pass

    meter = Counting()
    assert as_meter(meter) is meter
    quiet = NoProgress()
    assert as_meter(quiet) is quiet
    bar = TqdmProgress()
    assert as_meter(bar) is bar


@pytest.mark.parametrize("bad", [1, 0, "yes", object(), [1]])
def test_anything_else_is_an_input_error(bad):
    with pytest.raises(InputError, match="progress must be"):
        as_meter(bad)


def _public_functions_taking_progress():
    import inspect

    import ghostsym

    for name in ghostsym.__all__:
        value = getattr(ghostsym, name)
        if inspect.isfunction(value) and "progress" in inspect.signature(value).parameters:
            yield name, value


def test_the_public_functions_taking_progress_are_found():
    names = {name for name, _ in _public_functions_taking_progress()}
    assert {"train", "train_many", "run_training", "run_sweep", "verify"} <= names


@pytest.mark.parametrize("how", ["train", "train_many", "run_training"])
def test_training_with_progress_true_shows_a_bar(how, tmp_path, capsys):
    """The contract: ``progress=True`` works wherever a public function takes ``progress=``."""
    import ghostsym as gs

    config = gs.build_config(model="rank1", task="da", neurons=8, epochs=5)
    if how == "train":
        result = gs.train(config, progress=True)
    elif how == "train_many":
        (result,) = gs.train_many([config], progress=True)
    else:
        result = gs.run_training(config, tmp_path / "run", progress=True)
    assert result.history["loss"].shape == (5,)
    assert "5/5" in capsys.readouterr().err


def test_verify_with_progress_true_shows_a_bar(tmp_path, capsys):
    import ghostsym as gs

    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "one.py").write_text(
        "from ghostsym.verification import Outcome, check\n"
        "@check(id='progress-demo', claim='1 = 1.', reference='Eq. 0')\n"
        "def run(ctx):\n"
        "    return Outcome(1, 1, 0, 'exact', True)\n"
    )
    rows = gs.verify(["progress-demo"], out_dir=tmp_path / "out", progress=True, directory=checks)
    assert [r.status for r in rows] == ["pass"]
    assert "1/1" in capsys.readouterr().err
    assert (tmp_path / "out" / "report.md").is_file()
