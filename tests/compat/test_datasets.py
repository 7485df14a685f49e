"""datasets push_to_hub / load_dataset (downloaded and streaming) against the live server."""

from __future__ import annotations

from pathlib import Path

import datasets
from datasets import Dataset, load_dataset
from huggingface_hub import HfApi


def rows(n: int, seed: int) -> dict[str, list]:  # type: ignore[type-arg]
    return {
        "id": list(range(seed, seed + n)),
        "text": [f"row {i} of {seed} — ünïcödé" for i in range(n)],
        "score": [i / 7 + seed for i in range(n)],
        "tags": [[f"t{j}" for j in range(i % 4)] for i in range(n)],
    }


def test_push_then_load_downloaded_and_streaming(hub_endpoint: str, user: tuple[str, str], repo_id: str) -> None:
    token = user[1]
    ds = Dataset.from_dict(rows(300, 0))
    ds.push_to_hub(repo_id, token=token)

    api = HfApi(endpoint=hub_endpoint, token=token)
    files = api.list_repo_files(repo_id, repo_type="dataset")
    parquet = [f for f in files if f.endswith(".parquet")]
    assert len(parquet) == 1 and parquet[0].startswith("data/train-"), files
    info = api.dataset_info(repo_id, files_metadata=True)
    lfs = {s.rfilename: s.lfs for s in info.siblings}
    assert lfs[parquet[0]] is not None and lfs[parquet[0]].size > 0  # a large file: preupload said lfs, the bytes went through the Xet CAS
    assert info.card_data is not None and info.card_data["dataset_info"]["splits"][0]["num_examples"] == 300

    loaded = load_dataset(repo_id, split="train")
    assert loaded.features == ds.features
    assert loaded.to_list() == ds.to_list()
    streamed = load_dataset(repo_id, split="train", streaming=True)
    assert list(streamed) == ds.to_list()


def test_second_split_and_config(hub_endpoint: str, user: tuple[str, str], repo_id: str) -> None:
    token = user[1]
    train, test, other = Dataset.from_dict(rows(200, 0)), Dataset.from_dict(rows(50, 1000)), \
        Dataset.from_dict(rows(120, 5000))
    train.push_to_hub(repo_id, token=token)
    test.push_to_hub(repo_id, split="test", token=token)
    other.push_to_hub(repo_id, config_name="other", split="validation", token=token)

    both = load_dataset(repo_id)
    assert set(both) == {"train", "test"}
    assert both["train"].to_list() == train.to_list() and both["test"].to_list() == test.to_list()
    assert load_dataset(repo_id, "other", split="validation").to_list() == other.to_list()
    assert list(load_dataset(repo_id, "other", split="validation", streaming=True)) == other.to_list()
    assert set(datasets.get_dataset_config_names(repo_id)) == {"default", "other"}

    # re-pushing a split replaces its shards rather than adding to them
    smaller = Dataset.from_dict(rows(10, 42))
    smaller.push_to_hub(repo_id, split="test", token=token)
    assert load_dataset(repo_id, split="test").to_list() == smaller.to_list()


def test_uploaded_csv_loads(hub_endpoint: str, api, repo_id: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api.create_repo(repo_id, repo_type="dataset")
    lines = ["n,word,x"] + [f"{i},w{i},{i * 0.5}" for i in range(250)]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    api.upload_file(path_or_fileobj=str(tmp_path / "train.csv"), path_in_repo="train.csv", repo_id=repo_id,
                    repo_type="dataset")
    expected = [{"n": i, "word": f"w{i}", "x": i * 0.5} for i in range(250)]
    assert load_dataset(repo_id, split="train").to_list() == expected
    assert list(load_dataset(repo_id, split="train", streaming=True)) == expected


def test_dataset_dict_in_shards_and_on_a_branch(hub_endpoint: str, user: tuple[str, str], repo_id: str) -> None:
    token = user[1]
    dd = datasets.DatasetDict({"train": Dataset.from_dict(rows(400, 0)), "test": Dataset.from_dict(rows(40, 9))})
    dd.push_to_hub(repo_id, token=token, num_shards={"train": 3, "test": 1})
    files = HfApi(endpoint=hub_endpoint).list_repo_files(repo_id, repo_type="dataset")
    assert len([f for f in files if f.startswith("data/train-")]) == 3, files

    loaded = load_dataset(repo_id)
    assert loaded["train"].to_list() == dd["train"].to_list() and loaded["test"].to_list() == dd["test"].to_list()
    assert list(load_dataset(repo_id, split="train", streaming=True)) == dd["train"].to_list()

    changed = Dataset.from_dict(rows(5, 77))
    changed.push_to_hub(repo_id, token=token, revision="v2")
    assert load_dataset(repo_id, split="train", revision="v2").to_list() == changed.to_list()
    assert load_dataset(repo_id, split="train").to_list() == dd["train"].to_list()
    main_sha = HfApi(endpoint=hub_endpoint).dataset_info(repo_id).sha
    assert load_dataset(repo_id, split="test", revision=main_sha).to_list() == dd["test"].to_list()
