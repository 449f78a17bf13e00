"""`mixenv listen`: the MUSHRA test folder (make), the server (serve), the statistics (analyze), and the page itself
in a headless Chromium, end to end.

Songs are a few seconds at 22.05 kHz, mixed with the instant methods (loudness, reference).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import wilcoxon

from mixenv.cli import main
from mixenv.data import read_audio, write_audio
from mixenv.listen import ListenError
from mixenv.listen.analyze import analyze, holm
from mixenv.listen.layout import PAGE_FILES, read_key, read_test
from mixenv.listen.make import MAX_METHODS, make_test, parse_methods
from mixenv.listen.server import ListenServer
from mixenv.listen.stimuli import CEILING_DBFS, TARGET_LUFS
from mixenv.loudness import integrated_lufs

from conftest import SR, band_db, noise, tone

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("loudness", "reference")
LABELS = ("hidden_reference", "anchor", "loudness", "refine", "cmaes", "model")
"""What must never reach a listener: the names key.json gives the conditions."""


def _write_songs(folder: Path, count: int = 2, seconds: float = 3.0) -> Path:
    """``count`` songs of vocals, bass, drums and a reference mix with plenty above 4 kHz (the drums' noise)."""
    for i in range(count):
        stems = {
            "vocals.wav": tone(330 + 110 * i, seconds, 0.1),
            "bass.wav": tone(82, seconds, 0.15),
            "drums.wav": noise(seconds, 0.04, channels=2, seed=i),
        }
        song = folder / f"song_{i + 1}"
        song.mkdir(parents=True)
        for name, audio in stems.items():
            write_audio(song / name, audio, SR)
        reference = 0.8 * stems["vocals.wav"] + 0.6 * stems["bass.wav"] + stems["drums.wav"]
        write_audio(song / "reference.wav", reference, SR)
    return folder


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test folder of two 2-second pages: hidden reference, anchor, loudness and reference per page."""
    root = tmp_path_factory.mktemp("listen")
    songs = _write_songs(root / "songs")
    return make_test(songs, root / "test", methods=METHODS, pages=6, seconds=2.0).folder


@pytest.fixture
def folder(made: Path, tmp_path: Path) -> Path:
    """A fresh copy of the made test, for a test that adds ratings to it."""
    return Path(shutil.copytree(made, tmp_path / "test"))


# make


def test_each_page_holds_the_reference_the_anchor_and_each_method(made: Path) -> None:
    test, key = read_test(made), read_key(made)
    assert [page["id"] for page in test["pages"]] == ["p1", "p2"]
    for page in test["pages"]:
        files = sorted(p.name for p in (made / "stimuli" / page["id"]).iterdir())
        assert len(files) == 3 + len(METHODS) < 12
        assert sorted(key["pages"][page["id"]]["conditions"].values()) == sorted(
            ["hidden_reference", "anchor", *METHODS]
        )
        assert {c["id"] for c in page["conditions"]} == set(key["pages"][page["id"]]["conditions"])
    assert key["pages"]["p1"]["song"] == "song_1" and key["pages"]["p1"]["start_seconds"] == 0.5  # the middle 2 of 3 s
    assert {p.name for p in made.iterdir()} == {*PAGE_FILES, "test.json", "key.json", "stimuli"}


def test_every_stimulus_of_a_page_is_equally_loud_and_none_clips(made: Path) -> None:
    for page in read_test(made)["pages"]:
        files = [page["reference"], *(c["file"] for c in page["conditions"])]
        audio = [read_audio(made / f) for f in files]
        loudness = [integrated_lufs(a, SR) for a in audio]
        assert max(loudness) - min(loudness) < 0.1, loudness
        assert max(np.max(np.abs(a)) for a in audio) <= 10 ** (CEILING_DBFS / 20) + 1e-4
        assert abs(np.mean(loudness) - TARGET_LUFS) < 0.2 or read_key(made)["pages"][page["id"]]["turn_down_db"] > 0
        assert all(a.shape == (2, 2 * SR) for a in audio)


def test_the_anchor_is_the_reference_low_passed_at_3_5_khz(made: Path) -> None:
    key = read_key(made)
    for page, entry in key["pages"].items():
        file_of = {name: made / "stimuli" / page / f"{c}.wav" for c, name in entry["conditions"].items()}
        reference, anchor = read_audio(file_of["hidden_reference"]), read_audio(file_of["anchor"])
        assert band_db(anchor, SR, 4000, SR / 2) < band_db(reference, SR, 4000, SR / 2) - 35  # down to 16-bit noise
        assert abs(band_db(anchor, SR, 50, 2000) - band_db(reference, SR, 50, 2000)) < 3  # the rest is kept


def test_listeners_never_see_a_method_name(made: Path) -> None:
    served = {name: (made / name).read_text() for name in (*PAGE_FILES, "test.json")}
    for name, text in served.items():
        for label in LABELS:
            assert label not in text, f"{label!r} in {name}"
    for page in read_test(made)["pages"]:
        for condition in page["conditions"]:
            assert set(condition) == {"id", "file"}
            assert condition["file"] == f"stimuli/{page['id']}/{condition['id']}.wav"
            assert len(condition["id"]) == 6 and int(condition["id"], 16) >= 0  # neutral hex ids


def test_make_refuses_more_methods_than_a_page_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    songs = _write_songs(tmp_path / "songs", count=1)
    too_many = ",".join(f"model:run{i}" for i in range(MAX_METHODS + 1))
    args = ["listen", "make", "--songs", str(songs), "--out", str(tmp_path / "test"), "--methods", too_many]
    assert main(args) == 2
    assert "at most 8 methods" in capsys.readouterr().err
    assert not (tmp_path / "test").exists()
    with pytest.raises(ListenError, match="more than once"):
        parse_methods(["loudness", "loudness"])
    with pytest.raises(ListenError, match="unknown method 'loud'"):
        parse_methods(["loud"])
    with pytest.raises(ListenError, match="takes no model"):
        parse_methods(["loudness:run"])


def test_make_refuses_an_existing_folder_unless_forced(made: Path, tmp_path: Path) -> None:
    songs = made.parent / "songs"
    out = Path(shutil.copytree(made, tmp_path / "test"))
    (out / "index.html").write_text("old")
    with pytest.raises(FileExistsError, match="--force"):
        make_test(songs, out, methods=["loudness"], seconds=1.0)
    assert (out / "index.html").read_text() == "old"
    make_test(songs, out, methods=["loudness"], seconds=1.0, force=True)
    assert (out / "index.html").read_text() != "old" and len(read_key(out)["pages"]["p1"]["conditions"]) == 3
    (out / "ratings.jsonl").write_text("{}\n")
    with pytest.raises(FileExistsError, match="ratings"):
        make_test(songs, out, methods=["loudness"], force=True)
    (tmp_path / "notes").mkdir()
    with pytest.raises(FileExistsError, match="not a listening-test folder"):
        make_test(songs, tmp_path / "notes", methods=["loudness"], force=True)


def test_an_interrupted_make_leaves_nothing(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mixenv.listen import make

    calls = []

    def mix_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first song's page is written by now
            raise KeyboardInterrupt
        return real_mix(*args, **kwargs)

    real_mix = make.mix
    monkeypatch.setattr(make, "mix", mix_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        make_test(made.parent / "songs", tmp_path / "test", methods=["loudness"], seconds=1.0)
    assert list(tmp_path.iterdir()) == []
    old = Path(shutil.copytree(made, tmp_path / "old"))
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        make_test(made.parent / "songs", old, methods=["loudness"], seconds=1.0, force=True)
    assert read_key(old) == read_key(made) and [p.name for p in tmp_path.iterdir()] == ["old"]


def test_make_names_a_song_without_a_reference(tmp_path: Path) -> None:
    songs = _write_songs(tmp_path / "songs", count=2)
    (songs / "song_2" / "reference.wav").unlink()
    with pytest.raises(ListenError, match=r"song_2 has no reference mix; add reference\.wav"):
        make_test(songs, tmp_path / "test", methods=["loudness"])


def test_the_page_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mixenv"]
    for name in PAGE_FILES:
        assert (ROOT / "mixenv" / "listen" / "page" / name).is_file()
        assert any(fnmatch.fnmatch(f"listen/page/{name}", pattern) for pattern in patterns), name


def test_only_the_command_line_imports_the_listening_test() -> None:
    from test_layers import _graph

    importers = {module for module, targets in _graph().items() for t in targets if t.startswith("mixenv.listen")}
    assert {m for m in importers if not m.startswith("mixenv.listen")} == {"mixenv.cli"}


# serve


@pytest.fixture
def server(folder: Path) -> Iterator[ListenServer]:
    server = ListenServer(folder, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _ratings(folder: Path, listener: str, value: float = 80.0) -> dict:
    return {"listener": listener, "ratings": {p: dict.fromkeys(c, value) for p, c in _conditions(folder).items()}}


def _conditions(folder: Path) -> dict[str, list[str]]:
    return {page["id"]: [c["id"] for c in page["conditions"]] for page in read_test(folder)["pages"]}


def _post(server: ListenServer, body: bytes | dict) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(server.url + "submit", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _get(server: ListenServer, path: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers["Content-Type"]


def test_concurrent_listeners_each_get_one_whole_line(server: ListenServer, folder: Path) -> None:
    listeners = [f"listener {i}" for i in range(8)]
    start = threading.Barrier(len(listeners))
    replies: dict[str, tuple[int, dict]] = {}

    def submit(listener: str) -> None:
        start.wait()
        replies[listener] = _post(server, _ratings(folder, listener, value=len(listener) * 3.5))

    threads = [threading.Thread(target=submit, args=(name,)) for name in listeners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(reply == (200, {"saved": True}) for reply in replies.values()), replies
    lines = (folder / "ratings.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted(r["listener"] for r in records) == listeners
    assert all(r["ratings"] == _ratings(folder, r["listener"], len(r["listener"]) * 3.5)["ratings"] for r in records)


def test_a_listener_id_is_recorded_once(server: ListenServer, folder: Path) -> None:
    assert _post(server, _ratings(folder, "ana"))[0] == 200
    status, reply = _post(server, _ratings(folder, " ANA ", value=10))
    assert status == 409 and "already submitted" in reply["error"]
    assert len((folder / "ratings.jsonl").read_text().splitlines()) == 1


def _malformed(folder: Path) -> dict[str, bytes | dict]:
    good = _ratings(folder, "ana")
    page, conditions = next(iter(_conditions(folder).items()))
    missing_page = {**good, "ratings": {page: good["ratings"][page]}}
    too_high = json.loads(json.dumps(good))
    too_high["ratings"][page][conditions[0]] = 150
    unknown = json.loads(json.dumps(good))
    unknown["ratings"][page]["000000"] = 50
    missing_condition = json.loads(json.dumps(good))
    del missing_condition["ratings"][page][conditions[1]]
    as_text = json.loads(json.dumps(good))
    as_text["ratings"][page][conditions[0]] = "80"
    return {
        "not JSON": b"{listener: ana",
        "not an object": b"[1, 2]",
        "no listener": {"ratings": good["ratings"]},
        "blank listener": {**good, "listener": "  "},
        "a page missing": missing_page,
        "rating 150": too_high,
        "unknown condition": unknown,
        "a condition missing": missing_condition,
        "rating as text": as_text,
        "an extra field": {**good, "cheat": True},
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not JSON", "must be JSON"),
        ("not an object", "JSON object"),
        ("no listener", "'listener'"),
        ("blank listener", "'listener'"),
        ("a page missing", "are not rated"),
        ("rating 150", "rating 150 is not a number from 0 to 100"),
        ("unknown condition", "has no conditions '000000'"),
        ("a condition missing", "are not rated"),
        ("rating as text", "rating '80'"),
        ("an extra field", "unexpected fields 'cheat'"),
    ],
)
def test_a_malformed_submission_is_refused_and_logged(
    server: ListenServer, folder: Path, case: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, reply = _post(server, _malformed(folder)[case])
    assert status == 400 and message in reply["error"]
    assert not (folder / "ratings.jsonl").exists()
    assert any("refused a submission" in r.getMessage() and message in r.getMessage() for r in caplog.records)


def test_the_server_sends_the_page_and_stimuli_but_never_the_key_or_ratings(server: ListenServer, folder: Path) -> None:
    assert _post(server, _ratings(folder, "ana"))[0] == 200
    status, body, kind = _get(server, "")
    assert status == 200 and kind.startswith("text/html") and b"listen.js" in body
    page = read_test(folder)["pages"][0]
    status, body, kind = _get(server, page["conditions"][0]["file"])
    assert status == 200 and kind == "audio/wav" and body == (folder / page["conditions"][0]["file"]).read_bytes()
    assert _get(server, "test.json")[0] == 200 and _get(server, "listen.js")[2].startswith("text/javascript")
    assert _get(server, "key.json")[0] == 403 and _get(server, "ratings.jsonl")[0] == 403
    for path in ("stimuli/../key.json", "%2e%2e/key.json", "stimuli/p1/", "nothing.html", "../../etc/passwd"):
        assert _get(server, path)[0] == 404, path
    assert _post(server, b"{}")[0] == 400  # the POST above is still the only line
    assert len((folder / "ratings.jsonl").read_text().splitlines()) == 1


# analyze


ORDER = {"hidden_reference": 98.0, "b": 75.0, "a": 60.0, "c": 45.0, "anchor": 15.0}
"""The synthetic listeners' mean ratings: the analysis must find this order."""


def _synthetic_test(folder: Path, pages: int = 6) -> Path:
    """test.json and key.json of a test with methods a, b, c (no audio: the analysis reads only these)."""
    folder.mkdir()
    names = list(ORDER)
    test_pages, key_pages = [], {}
    for p in range(1, pages + 1):
        ids = [f"{p}{i:05x}" for i in range(len(names))]
        test_pages.append({"id": f"p{p}", "reference": "r.wav", "conditions": [{"id": c, "file": "x"} for c in ids]})
        key_pages[f"p{p}"] = {"song": f"song_{p}", "conditions": dict(zip(ids, names, strict=True))}
    test = {"format": "mixenv-listening-test", "version": 1, "pages": test_pages}
    key = {"format": "mixenv-listening-key", "version": 1, "methods": ["a", "b", "c"], "pages": key_pages}
    (folder / "test.json").write_text(json.dumps(test))
    (folder / "key.json").write_text(json.dumps(key))
    return folder


def _synthetic_ratings(folder: Path, listeners: dict[str, float | None], seed: int = 1) -> None:
    """One line per listener, rating each condition around its :data:`ORDER` mean; a listener with a number rates
    the hidden reference at that number on every page."""
    rng = np.random.default_rng(seed)
    key = read_key(folder)
    lines = []
    for listener, reference in listeners.items():
        ratings = {}
        for page, entry in key["pages"].items():
            ratings[page] = {}
            for condition, name in entry["conditions"].items():
                value = ORDER[name] + rng.uniform(-8, 8) if name != "hidden_reference" else 100.0
                ratings[page][condition] = float(
                    np.clip(reference if reference and name == "hidden_reference" else value, 0, 100)
                )
        lines.append(json.dumps({"listener": listener, "ratings": ratings}))
    (folder / "ratings.jsonl").write_text("\n".join(lines) + "\n")


def test_analysis_orders_the_methods_and_excludes_a_listener_who_misses_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _synthetic_test(tmp_path / "test")
    _synthetic_ratings(folder, {"ana": None, "ben": None, "cy": None, "dee": None, "deaf": 50.0})
    analysis = analyze(folder)
    assert list(analysis.excluded) == ["deaf"] and "6 of 6 pages" in analysis.excluded["deaf"]
    assert [s.method for s in analysis.summary] == list(ORDER)
    for s in analysis.summary:
        assert s.n == 4 * 6 and s.ci_low <= s.mean <= s.ci_high and abs(s.mean - ORDER[s.method]) < 5
    assert analyze(folder).summary == analysis.summary  # a seeded bootstrap

    assert main(["listen", "analyze", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "excluded deaf: rated the hidden reference below 90 on 6 of 6 pages" in out and "p (Holm)" in out
    written = {p.name for p in (folder / "analysis").iterdir()}
    assert written == {"ratings.csv", "summary.csv", "pairs.csv", "means.png"}
    rows = (folder / "analysis" / "ratings.csv").read_text().splitlines()
    assert rows[0] == "listener,page,song,method,rating,excluded" and len(rows) == 1 + 5 * 6 * 5
    assert any(row.startswith("deaf,p1,song_1,hidden_reference,50.0,True") for row in rows)
    assert (folder / "analysis" / "means.png").read_bytes().startswith(b"\x89PNG")


def test_pair_tests_are_wilcoxon_with_holms_correction(tmp_path: Path) -> None:
    folder = _synthetic_test(tmp_path / "test")
    _synthetic_ratings(folder, {"ana": None, "ben": None})
    analysis = analyze(folder)
    key = read_key(folder)
    kept = [json.loads(line) for line in (folder / "ratings.jsonl").read_text().splitlines()]

    def ratings(method: str) -> np.ndarray:
        return np.array(
            [
                record["ratings"][page][c]
                for record in kept
                for page, entry in sorted(key["pages"].items())
                for c, name in entry["conditions"].items()
                if name == method
            ]
        )

    raw = [wilcoxon(ratings(a) - ratings(b)).pvalue for a, b in [("a", "b"), ("a", "c"), ("b", "c")]]
    order = np.argsort(raw)
    by_hand = np.empty(3)
    by_hand[order[0]] = 3 * raw[order[0]]
    by_hand[order[1]] = max(by_hand[order[0]], 2 * raw[order[1]])
    by_hand[order[2]] = max(by_hand[order[1]], raw[order[2]])
    assert [(t.a, t.b, t.n) for t in analysis.pairs] == [("a", "b", 12), ("a", "c", 12), ("b", "c", 12)]
    np.testing.assert_allclose([t.p for t in analysis.pairs], raw)
    np.testing.assert_allclose([t.p_holm for t in analysis.pairs], np.minimum(by_hand, 1.0))
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_analysis_names_a_bad_line_and_a_missing_file(tmp_path: Path) -> None:
    folder = _synthetic_test(tmp_path / "test")
    with pytest.raises(ListenError, match=r"ratings\.jsonl does not exist"):
        analyze(folder)
    _synthetic_ratings(folder, {"ana": None})
    with open(folder / "ratings.jsonl", "a") as file:
        file.write('{"listener": "ben", "ratings": {}}\n')
    with pytest.raises(ListenError, match=r"ratings\.jsonl line 2 is not a submission to this test"):
        analyze(folder)
    _synthetic_ratings(folder, {"deaf": 50.0})
    with pytest.raises(ListenError, match="excluded every listener"):
        analyze(folder)


# the command line


@pytest.mark.parametrize(("step", "words"), [("make", "anchor"), ("serve", "key.json"), ("analyze", "Wilcoxon")])
def test_each_step_explains_itself(step: str, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["listen", step, "--help"])
    assert words in capsys.readouterr().out


def test_the_command_makes_a_test_and_names_a_busy_port(
    made: Path, tmp_path: Path, server: ListenServer, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli-test"
    args = ["listen", "make", "--songs", str(made.parent / "songs"), "--out", str(out), "--methods", "loudness"]
    assert main([*args, "--seconds", "1", "--pages", "1"]) == 0
    assert "wrote a listening test of 1 page (song_1), 4 stimuli each" in capsys.readouterr().out
    assert main(["listen", "serve", str(out), "--port", str(server.server_address[1])]) == 2
    assert "pass another --port" in capsys.readouterr().err


def test_serve_prints_its_address_and_stops_cleanly_on_ctrl_c(folder: Path) -> None:
    command = [sys.executable, "-m", "mixenv.cli", "listen", "serve", str(folder), "--port", "0"]
    # As from a terminal: a test run started in the background (CI's `make test &`) ignores SIGINT, and a child
    # inherits that, so Python would never raise KeyboardInterrupt in it.
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint
    )
    try:
        first = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", first).group()
        with urllib.request.urlopen(url + "test.json", timeout=10) as response:
            assert json.loads(response.read()) == read_test(folder)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)  # a bound for a hang, not a speed test
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped; the ratings received are in" in out and "Traceback" not in err


# the page in a browser


def _browser():
    """Headless Chromium under Selenium; fails (never skips) when either is missing, so CI cannot pass without it."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed; `pip install -e '.[dev]'` installs it (make test does)")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("chromium or chromedriver is missing; `apt-get install chromium chromium-driver` (.ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-dev-shm-usage",
        "--window-size=900,680",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


WANTED = {"hidden_reference": 100, "anchor": 12, "loudness": 55, "reference": 71}
"""What the browser's listeners rate each condition (the test reads key.json to know which is which)."""


def _take_test(browser, url: str, listener: str, key: dict, screenshot: str | None = None) -> list[list[str]]:
    """Take the whole test as ``listener``: play and switch, move every slider, submit; returns the order of the
    conditions on each page as the page showed them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 15)
    browser.get(url)
    start = browser.find_element(By.ID, "start")
    wait.until(lambda _: start.is_enabled())
    browser.find_element(By.ID, "listener").send_keys(listener)
    start.click()
    orders = []
    for index in range(len(key["pages"])):
        title = f"Page {index + 1} of {len(key['pages'])}"
        wait.until(lambda b, t=title: b.find_element(By.ID, "page-title").text == t and b.execute_script(
            "return !document.querySelector('button.play').disabled"))  # fmt: skip
        page = browser.execute_script("return document.body.dataset.loaded")
        rows = browser.find_elements(By.CSS_SELECTOR, ".condition")
        orders.append([row.get_attribute("data-condition") for row in rows])
        browser.find_element(By.ID, "play-reference").click()
        wait.until(lambda b: b.execute_script("return document.getElementById('position').value") > 0)
        for row in rows:
            row.find_element(By.CSS_SELECTOR, "button.play").click()
            assert browser.execute_script("return document.body.dataset.playing") == row.get_attribute("data-condition")
            assert row.find_element(By.CSS_SELECTOR, "button.play").get_attribute("aria-pressed") == "true"
        next_button = browser.find_element(By.ID, "next")
        for row in rows:
            assert not next_button.is_enabled()  # every slider must be moved first
            name = key["pages"][page]["conditions"][row.get_attribute("data-condition")]
            slider = row.find_element(By.CSS_SELECTOR, "input[type=range]")
            browser.execute_script(
                "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                slider,
                WANTED[name],
            )
            assert row.find_element(By.TAG_NAME, "output").text == str(WANTED[name])
        if screenshot and index == 0:
            browser.save_screenshot(screenshot)
        browser.find_element(By.ID, "stop").click()
        assert browser.execute_script("return document.body.dataset.playing") == ""
        assert next_button.text == ("Submit" if index == len(key["pages"]) - 1 else "Next")
        next_button.click()
    wait.until(lambda b: b.execute_script("return document.body.dataset.submitted") == "true")
    assert browser.find_element(By.ID, "done").is_displayed()
    return orders


def test_two_listeners_take_the_test_in_a_browser(server: ListenServer, folder: Path, capsys) -> None:
    """Set MIXENV_LISTEN_SCREENSHOT=docs/listening_test.png to also save the first page as a screenshot."""
    started = time.perf_counter()
    key = read_key(folder)
    browser = _browser()
    try:
        screenshot = os.environ.get("MIXENV_LISTEN_SCREENSHOT")
        orders = {who: _take_test(browser, server.url, who, key, screenshot if who == "ana" else None) for who in
                  ("ana", "ben")}  # fmt: skip
    finally:
        browser.quit()
    records = [json.loads(line) for line in (folder / "ratings.jsonl").read_text().splitlines()]
    assert [r["listener"] for r in records] == ["ana", "ben"]
    for record in records:
        for page, rated in record["ratings"].items():
            assert rated == {c: WANTED[name] for c, name in key["pages"][page]["conditions"].items()}
    assert orders["ana"] != orders["ben"]  # each listener's own order of conditions
    assert main(["listen", "analyze", str(folder)]) == 0
    assert "excluded by post-screening: 0" in capsys.readouterr().out
    summary = (folder / "analysis" / "summary.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in summary[1:]] == ["hidden_reference", "reference", "loudness", "anchor"]
    assert time.perf_counter() - started < 60
