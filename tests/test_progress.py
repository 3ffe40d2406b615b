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
