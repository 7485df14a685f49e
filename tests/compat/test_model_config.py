"""model_info's `config`, as the Hub shows it: what a model's config.json says of its architecture, with the
tokenizer's special tokens and chat template from tokenizer_config.json; absent without a readable config.json,
and read at the revision asked for."""

from __future__ import annotations

import json

from huggingface_hub import CommitOperationAdd


def test_model_info_config_summarises_config_json(server, api, repo_id):
    api.create_repo(repo_id)
    assert api.model_info(repo_id).config is None  # no config.json yet
    first = api.create_commit(repo_id, [
        CommitOperationAdd("config.json", json.dumps({
            "architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": 768,
            "quantization_config": {"quant_method": "bitsandbytes"}}).encode()),
        CommitOperationAdd("tokenizer_config.json", json.dumps({
            "bos_token": "<s>", "eos_token": "</s>", "chat_template": "{{ messages }}", "model_max_length": 512,
        }).encode()),
    ], commit_message="config").oid
    assert api.model_info(repo_id).config == {
        "architectures": ["BertForSequenceClassification"], "model_type": "bert",
        "quantization_config": {"quant_method": "bitsandbytes"},
        "tokenizer_config": {"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{{ messages }}"}}
    api.upload_file(path_or_fileobj=b'{"model_type": "gpt2"}', path_in_repo="config.json", repo_id=repo_id)
    api.delete_file("tokenizer_config.json", repo_id)
    assert api.model_info(repo_id).config == {"model_type": "gpt2"}
    assert api.model_info(repo_id, revision=first).config["model_type"] == "bert"
    assert api.model_info(repo_id, expand=["config"]).config == {"model_type": "gpt2"}
    api.upload_file(path_or_fileobj=b"[not json", path_in_repo="config.json", repo_id=repo_id)
    assert api.model_info(repo_id).config is None


def test_model_info_repeats_the_cards_model_index_and_base_models(server, api, repo_id):
    card = b"""---
base_model:
- org/base-a
- org/base-b
model-index:
- name: m
  results:
  - task: {type: text-classification}
    dataset: {type: imdb, name: IMDB}
    metrics: [{type: accuracy, value: 0.9}]
---
"""
    api.create_repo(repo_id)
    info = api.model_info(repo_id)
    assert info.model_index is None and info.base_models is None
    api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo_id)
    info = api.model_info(repo_id)
    assert info.base_models == {"relation": "merge", "models": [{"id": "org/base-a"}, {"id": "org/base-b"}]}
    assert info.model_index[0]["results"][0]["metrics"] == [{"type": "accuracy", "value": 0.9}]
    listed = [m for m in api.list_models(author=repo_id.split("/")[0], expand=["baseModels"])]
    assert [m.base_models for m in listed] == [info.base_models]
    api.upload_file(path_or_fileobj=b"---\nbase_model: org/base-a\nbase_model_relation: quantized\n---\n",
                    path_in_repo="README.md", repo_id=repo_id)
    assert api.model_info(repo_id).base_models == {"relation": "quantized", "models": [{"id": "org/base-a"}]}
