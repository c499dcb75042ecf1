"""Progress lines: counts, rate and ETA, plain log lines off a terminal, a tqdm bar on one."""

import io


from sgan_tf import progress


def test_plain_lines_give_count_rate_and_eta(monkeypatch):
    lines = []
    monkeypatch.setattr(progress.logging, "info", lambda fmt, *a: lines.append(fmt % a))
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    bar = progress.Progress(4, "slices", unit="slice", terminal=False)
    for _ in range(3):
        bar.update()
    assert lines[-1].startswith("slices: 3/4 slice (") and "slice/s" in lines[-1] and "ETA" in lines[-1]
    bar.update()
    assert lines[-1].startswith("slices: 4/4 slice (") and "ETA" not in lines[-1]  # done: no ETA


def test_plain_lines_are_rate_limited(monkeypatch):
    lines = []
    monkeypatch.setattr(progress.logging, "info", lambda fmt, *a: lines.append(fmt % a))
    items = list(progress.track(range(50), "items"))  # not a terminal under pytest
    assert items == list(range(50))
    assert len(lines) == 1 and lines[0].startswith("items: 50/50 it")  # only the final line within 30 s


def test_terminal_gets_a_tqdm_bar(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", stream)
    bar = progress.Progress(10, "steps", unit="step", terminal=True)
    bar.update(5, postfix="loss=0.1")
    bar.close()
    assert "steps" in stream.getvalue() and "5/10" in stream.getvalue()
