"""Connector bodies as ML Commons' published blueprints write them."""

OPENAI_BATCH_CONNECTOR = {
    "name": "OpenAI Embedding model",
    "description": "OpenAI embedding model for testing offline batch",
    "version": "1",
    "protocol": "http",
    "parameters": {
        "model": "text-embedding-ada-002",
        "input_file_id": "<your input file id in OpenAI>",
        "endpoint": "/v1/embeddings",
    },
    "credential": {"openAI_key": "<your openAI key>"},
    "actions": [
        {
            "action_type": "predict",
            "method": "POST",
            "url": "https://api.openai.com/v1/embeddings",
            "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
            "request_body": '{ "input": ${parameters.input}, "model": '
            '"${parameters.model}" }',
            "pre_process_function": "connector.pre_process.openai.embedding",
            "post_process_function": "connector.post_process.openai.embedding",
        },
        {
            "action_type": "batch_predict",
            "method": "POST",
            "url": "https://api.openai.com/v1/batches",
            "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
            "request_body": '{ "input_file_id": "${parameters.input_file_id}", '
            '"endpoint": "${parameters.endpoint}", "completion_window": "24h" }',
        },
    ],
}


def register_remote_model(client, connector: dict) -> str:
    """Create the connector, a model group and a deployed remote model."""
    response = client.post("/_plugins/_ml/connectors/_create", json=connector)
    assert response.status_code == 200, response.get_json()
    connector_id = response.get_json()["connector_id"]
    response = client.post(
        "/_plugins/_ml/model_groups/_register", json={"name": f"group-{connector_id}"}
    )
    assert response.status_code == 200, response.get_json()
    group_id = response.get_json()["model_group_id"]
    response = client.post(
        "/_plugins/_ml/models/_register?deploy=true",
        json={
            "name": "batch model",
            "function_name": "remote",
            "model_group_id": group_id,
            "connector_id": connector_id,
        },
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["model_id"]
