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
