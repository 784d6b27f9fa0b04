"""Connector templating as ML Commons does it, without its injection holes."""

import json

import pytest

from common.errors import TemplateError
from common.templating import (
    merge_parameters,
    placeholders,
    render_body,
    render_headers,
    render_url,
)

SAGEMAKER_BODY = (
    '{ "BatchStrategy": "${parameters.BatchStrategy}", "ModelName": '
    '"${parameters.ModelName}", "DataProcessing" : ${parameters.DataProcessing}, '
    '"TransformInput": ${parameters.TransformInput}, "TransformJobName" : '
    '"${parameters.TransformJobName}", "TransformOutput" : '
    '${parameters.TransformOutput}, "TransformResources" : '
    "${parameters.TransformResources}}"
)


def test_json_objects_are_spliced_as_json():
    parameters = {
        "BatchStrategy": "SingleRecord",
        "ModelName": "m",
        "DataProcessing": {"InputFilter": "$.content", "JoinSource": "Input"},
        "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": "s3://b/in/"}}},
        "TransformJobName": "job-1",
        "TransformOutput": {"S3OutputPath": "s3://b/out/"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m4.xlarge"},
    }

    body = render_body(SAGEMAKER_BODY, parameters, {}, "request_body")

    assert body["DataProcessing"] == {"InputFilter": "$.content", "JoinSource": "Input"}
    assert body["TransformResources"]["InstanceCount"] == 1
    assert body["TransformJobName"] == "job-1"


def test_stringified_objects_are_spliced_like_ml_commons_does():
    body = render_body(
        '{"a": ${parameters.a}, "n": ${parameters.n}}',
        {"a": '{"x": [1, 2]}', "n": "100"},
        {},
        "request_body",
    )

    assert body == {"a": {"x": [1, 2]}, "n": 100}


@pytest.mark.parametrize(
    "value",
    [
        'x", "endpoint": "/v1/evil',
        'x"}, "evil": {"a": "',
        "${credential.openAI_key}",
        'back\\slash and \u2028 and "quotes"',
    ],
)
def test_string_values_cannot_break_out_of_their_quotes(value):
    body = render_body(
        '{"input_file_id": "${parameters.id}", "k": 1}',
        {"id": value},
        {"openAI_key": "secret"},
        "request_body",
    )

    assert body == {"input_file_id": value, "k": 1}


def test_unquoted_string_that_is_not_json_becomes_a_string():
    body = render_body('{"a": ${parameters.a}}', {"a": '1}, "b": {'}, {}, "rb")

    assert body == {"a": '1}, "b": {'}


def test_missing_parameter_names_itself():
    with pytest.raises(TemplateError) as caught:
        render_body('{"a": "${parameters.absent}"}', {}, {}, "request_body")

    assert caught.value.field == "parameters.absent"
    assert "absent" in caught.value.message


def test_default_fills_a_missing_parameter():
    body = render_body(
        '{"a": ${parameters.a:-null}, "b": "${parameters.b:-x}"}', {}, {}, "rb"
    )

    assert body == {"a": None, "b": "x"}


def test_body_must_render_to_an_object():
    with pytest.raises(TemplateError, match="JSON object"):
        render_body("[1, 2]", {}, {}, "request_body")


def test_invalid_json_after_rendering_is_reported():
    with pytest.raises(TemplateError, match="not valid JSON"):
        render_body('{"a": ', {}, {}, "request_body")


def test_url_values_are_percent_encoded():
    url = render_url(
        "https://bedrock.${parameters.region}.amazonaws.com/model-invocation-job/"
        "${parameters.jobArn}",
        {
            "region": "us-east-1",
            "jobArn": "arn:aws:bedrock:us-east-1:111122223333:"
            "model-invocation-job/ab12",
        },
        {},
        "url",
    )

    assert url.endswith(
        "/model-invocation-job/arn%3Aaws%3Abedrock%3Aus-east-1%3A"
        "111122223333%3Amodel-invocation-job%2Fab12"
    )
    assert url.startswith("https://bedrock.us-east-1.amazonaws.com/")


def test_headers_take_credentials():
    headers = render_headers(
        {"Authorization": "Bearer ${credential.key}"}, {}, {"key": "sk-1"}, "headers"
    )

    assert headers == {"Authorization": "Bearer sk-1"}


def test_request_parameters_win_over_the_connectors():
    assert merge_parameters({"a": 1, "b": 2}, {"b": 3}) == {"a": 1, "b": 3}


def test_non_ascii_values_round_trip():
    text = "中文 🎉 𝐛𝐨𝐥𝐝"
    body = render_body('{"t": "${parameters.t}"}', {"t": text}, {}, "rb")

    assert body["t"] == text
    assert json.loads(json.dumps(body))["t"] == text


def test_placeholders_lists_every_reference():
    assert placeholders("${parameters.a} ${credential.b} ${parameters.c:-1}") == [
        ("parameters", "a"),
        ("credential", "b"),
        ("parameters", "c"),
    ]
