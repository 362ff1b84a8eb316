"""The SMS vendors' request signatures against the examples the vendors publish: if either function drifts from
the vendor's algorithm by one byte, its published signature no longer comes out."""

from __future__ import annotations

from datetime import UTC, datetime

from notification.adapters.signing import aliyun_v3_headers, canonical_query, percent_encode, tencent_tc3_headers


def test_aliyun_v3_gives_the_signature_of_aliyuns_documented_example():
    # Aliyun's "V3 request structure and signature" page: ECS RunInstances in cn-shanghai, with the example
    # credentials YourAccessKeyId / YourAccessKeySecret, an empty body, and this date and nonce.
    headers = aliyun_v3_headers(
        access_key_id="YourAccessKeyId",
        access_key_secret="YourAccessKeySecret",
        host="ecs.cn-shanghai.aliyuncs.com",
        action="RunInstances",
        version="2014-05-26",
        query={"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"},
        body=b"",
        now=datetime(2023, 10, 26, 9, 1, 1, tzinfo=UTC),
        nonce="d410180a5abf7fe235dd9b74aca91fc0",
    )
    assert headers["Authorization"] == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
    )
    assert headers["x-acs-content-sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert headers["x-acs-date"] == "2023-10-26T09:01:01Z"


def test_tencent_tc3_gives_the_signature_of_tencents_documented_example():
    # Tencent Cloud's "Signature v3" page: CVM DescribeInstances with its example SecretId/SecretKey at 1551113065.
    body = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    headers = tencent_tc3_headers(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        host="cvm.tencentcloudapi.com",
        service="cvm",
        action="DescribeInstances",
        version="2017-03-12",
        region="ap-guangzhou",
        body=body,
        timestamp=1551113065,
    )
    assert headers["Authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )
    assert headers["X-TC-Timestamp"] == "1551113065" and headers["Host"] == "cvm.tencentcloudapi.com"


def test_query_values_are_percent_encoded_as_rfc_3986_in_key_order():
    assert percent_encode("【网格通】a b*~") == "%E3%80%90%E7%BD%91%E6%A0%BC%E9%80%9A%E3%80%91a%20b%2A~"
    assert canonical_query({"b": "2", "a": "x/y", "TemplateParam": '{"c":1}'}) == (
        "TemplateParam=%7B%22c%22%3A1%7D&a=x%2Fy&b=2"
    )
