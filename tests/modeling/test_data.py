import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeling.config import LABELS, SplitSizes
from modeling.data import DataSourceError, clean_text, describe, load_reviews, split_hash

ROWS = [
    ("A wonderful film.<br /><br />Loved   it", 1),
    ("Dull and far too long", 0),
    ("The best acting of the year", "positive"),
    ("I walked out after an hour", "negative"),
]


def write_csv(path, rows, header="text,label"):
    lines = [header] + [f'"{t}",{lab}' for t, lab in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in rows), encoding="utf-8")
    return path


def write_parquet(path, rows):
    pq.write_table(pa.table({"text": [t for t, _ in rows], "label": [str(lab) for _, lab in rows]}), path)
    return path


def write_aclimdb(root):
    for split in ("train", "test"):
        for label_dir, words in (("pos", "great fun"), ("neg", "awful mess")):
            folder = root / split / label_dir
            folder.mkdir(parents=True)
            for i in range(10):
                (folder / f"{i}_{7 if label_dir == 'pos' else 2}.txt").write_text(f"{split} {words} number {i}<br />end")
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("ignored")
    return root


@pytest.fixture(scope="module")
def packaged():
    return load_reviews("packaged", seed=42)


def test_clean_text_removes_tags_and_normalises_space():
    """HTML tags and entities go, whitespace collapses, a lone '<' stays."""
    assert clean_text(" Great<br /><br />film &amp; cast\n\t a < b <3 ") == "Great film & cast a < b <3"


@pytest.mark.parametrize("kind,writer", [("csv", write_csv), ("jsonl", write_jsonl), ("parquet", write_parquet)])
def test_file_sources_load_into_the_same_shape(tmp_path, kind, writer):
    """A CSV, JSONL or Parquet file becomes a test-only DatasetDict with cleaned text and label ids."""
    path = writer(tmp_path / f"reviews.{kind}", ROWS)
    data = load_reviews(f"{kind}:{path}")
    assert list(data) == ["test"]
    assert data["test"].features["label"].names == list(LABELS)
    assert list(data["test"]["label"]) == [1, 0, 1, 0]
    assert data["test"][0]["text"] == "A wonderful film. Loved it"


def test_file_sources_hash_the_same_content_identically(tmp_path):
    """The same rows give the same split hash whatever the file format."""
    a = load_reviews(f"csv:{write_csv(tmp_path / 'a.csv', ROWS)}")
    b = load_reviews(f"jsonl:{write_jsonl(tmp_path / 'b.jsonl', ROWS)}")
    assert split_hash(a["test"]) == split_hash(b["test"])


def test_aclimdb_folder_loads_train_validation_test(tmp_path):
    """The aclImdb layout gives train/validation/test, stratified, with unsup ignored."""
    data = load_reviews(f"aclimdb:{write_aclimdb(tmp_path / 'aclImdb')}", sizes=SplitSizes(validation=4))
    assert {k: len(v) for k, v in data.items()} == {"train": 16, "validation": 4, "test": 20}
    assert sorted(data["validation"]["label"]) == [0, 0, 1, 1]
    assert "<br" not in data["train"][0]["text"]


def test_packaged_split_sizes_and_balance(packaged):
    """The packaged IMDb data splits about 18,000 / 2,000 / 5,000, balanced, with no text in two splits."""
    assert {k: len(v) for k, v in packaged.items()} == {"train": 17_902, "validation": 2_000, "test": 5_000}
    assert abs(sum(packaged["test"]["label"]) - 2_500) <= 10
    texts = [set(packaged[name]["text"]) for name in ("train", "validation", "test")]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


def test_packaged_split_is_deterministic_and_seeded(packaged):
    """The same seed gives the same split; another seed a different one."""
    again = load_reviews("packaged", seed=42)
    other = load_reviews("packaged", seed=7)

    def hashes(data):
        return {name: split_hash(split) for name, split in data.items()}

    assert hashes(again) == hashes(packaged)
    assert split_hash(other["test"]) != split_hash(packaged["test"])


def test_packaged_rt_has_a_fixed_test_part():
    """The Rotten Tomatoes sentences load with a 2,000-sentence test part."""
    data = load_reviews("packaged-rt")
    assert len(data["test"]) == 2_000 and sum(len(s) for s in data.values()) == 8_530


def test_split_hash_changes_when_one_row_changes(tmp_path):
    """Changing one label or one character changes the split hash."""
    base = split_hash(load_reviews(f"csv:{write_csv(tmp_path / 'a.csv', ROWS)}")["test"])
    flipped = [(ROWS[0][0], 0)] + ROWS[1:]
    edited = [(ROWS[0][0] + "!", 1)] + ROWS[1:]
    assert split_hash(load_reviews(f"csv:{write_csv(tmp_path / 'b.csv', flipped)}")["test"]) != base
    assert split_hash(load_reviews(f"csv:{write_csv(tmp_path / 'c.csv', edited)}")["test"]) != base


@pytest.mark.parametrize(
    "content,message",
    [
        (b"review,label\nfine,1\n", "missing column(s) text"),
        (b"text,label\nfine,1\ngood,maybe\n", "line 3: unknown label 'maybe'"),
        (b"text,label\nfine,1\n\"  <br />  \",0\n", "line 3: empty text"),
        (b"text,label\nfine,1\nbad \xff\xfe byte,0\n", "line 3: not valid UTF-8"),
    ],
)
def test_malformed_csv_names_file_and_row(tmp_path, content, message):
    """Each kind of malformed CSV gets an error naming the file and the row."""
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataSourceError) as excinfo:
        load_reviews(f"csv:{path}")
    assert str(path) in str(excinfo.value)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    "lines,message",
    [
        (['{"text": "ok", "label": 1}', "{not json"], "line 2: not valid JSON"),
        (['{"text": "ok"}'], "line 1: missing column label"),
        (['{"text": 5, "label": 1}'], "line 1: text is int"),
        (['{"text": "ok", "label": 2}'], "line 1: unknown label 2"),
    ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path, lines, message):
    """Each kind of malformed JSONL gets an error naming the file and the line."""
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(DataSourceError, match=message):
        load_reviews(f"jsonl:{path}")


def test_malformed_parquet_and_missing_files(tmp_path):
    """A corrupt Parquet file, a missing file and an unknown source each get a clear error."""
    corrupt = tmp_path / "bad.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(DataSourceError, match="cannot be read as Parquet"):
        load_reviews(f"parquet:{corrupt}")
    with pytest.raises(DataSourceError, match="file not found"):
        load_reviews(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(DataSourceError, match="unknown data source"):
        load_reviews("kaggle")
    with pytest.raises(DataSourceError, match="missing folder train/neg"):
        (tmp_path / "acl" / "train" / "pos").mkdir(parents=True)
        load_reviews(f"aclimdb:{tmp_path / 'acl'}")


def test_hub_imdb_offline_gives_a_clear_error(monkeypatch):
    """Without the hub, the imdb source says so and points at the packaged source."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataSourceError, match="packaged"):
        load_reviews("imdb")


def test_describe_reports_lengths_and_html(tmp_path):
    """describe counts rows, labels, HTML rows and length summaries per split."""
    stats = describe(load_reviews(f"csv:{write_csv(tmp_path / 'a.csv', ROWS)}"))["test"]
    assert stats["rows"] == 4 and stats["labels"] == {"negative": 2, "positive": 2}
    assert stats["html_rows"] == 1
    assert stats["words"]["min"] == 5 and stats["words"]["max"] == 6


def test_a_mix_of_sources_unites_their_splits_and_keeps_tests_out_of_training(tmp_path):
    """packaged+packaged-rt: each split the union of the two (Rotten Tomatoes with its own fixed
    split), the parts' sizes recorded, no test text in any train or validation split."""
    from modeling.cleaning import DataSourceError
    from modeling.config import SplitSizes
    from modeling.data import RT_SIZES, load_reviews

    mix = load_reviews("packaged+packaged-rt", sizes=SplitSizes(1000, 200, 300))
    assert {k: len(v) for k, v in mix.items()} == {"train": 1000 + RT_SIZES.train, "validation": 200 + RT_SIZES.validation,
                                                   "test": 300 + RT_SIZES.test}
    tests = set(mix["test"]["text"])
    assert not tests & set(mix["train"]["text"]) and not tests & set(mix["validation"]["text"])
    described = json.loads(mix["test"].info.description)
    assert described["source"] == "packaged+packaged-rt" and described["parts"] == {"packaged": 300, "packaged-rt": 2000}
    assert load_reviews("packaged+packaged-rt", sizes=SplitSizes(1000, 200, 300))["train"]["text"] == mix["train"]["text"]
    evaluation = tmp_path / "e.csv"
    evaluation.write_text("text,label\ngood,1\nbad,0\n")
    for bad, message in (("packaged+", "two or more"), ("packaged+packaged", "two or more"),
                         (f"packaged+csv:{evaluation}", "no train/validation/test")):
        with pytest.raises(DataSourceError, match=message):
            load_reviews(bad, sizes=SplitSizes(1000, 200, 300))
