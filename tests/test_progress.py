"""Progress bars: redrawn on a terminal, one plain line per bar on a file or pipe."""
import io

import pytest

from twincore.progress import LineProgress, progress_bar


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_file_gets_one_line_per_epoch_without_carriage_returns():
    out = io.StringIO()
    for epoch in range(3):
        bar = progress_bar(total=50, desc=f"epoch {epoch + 1}/3", unit="batch", file=out, leave=True)
        assert isinstance(bar, LineProgress)
        for step in range(50):
            bar.update(1)
            bar.set_postfix(loss=f"{1 / (step + 1):.4f}")
        bar.close()
        bar.close()  # closing twice prints once
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines):
        assert line.startswith(f"epoch {epoch + 1}/3: 50/50 batch in ")
        assert line.endswith("loss=0.0200")  # the last postfix


def test_iterable_form_counts_and_closes():
    out = io.StringIO()
    seen = list(progress_bar(range(7), desc="epoch 1/1", file=out))
    assert seen == list(range(7))
    assert out.getvalue().startswith("epoch 1/1: 7/7 it in ") and out.getvalue().count("\n") == 1


def test_terminal_gets_a_redrawn_bar():
    pytest.importorskip("tqdm")
    out = _Tty()
    bar = progress_bar(total=5, desc="epoch 1/1", file=out, mininterval=0)
    assert not isinstance(bar, LineProgress)
    for _ in range(5):
        bar.update(1)
    bar.close()
    assert "\r" in out.getvalue() and "5/5" in out.getvalue()
