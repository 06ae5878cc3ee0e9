"""The reference digest functions reproduce the vectors of wire.md §2.3 (two of them returned by real AWS).

These tests need no server; they pin the oracle the message tests compare the servers against.
"""
import pytest

from wirehelpers import encode_message_attributes, md5_hex, md5_of_message_attributes


def test_body_digest_matches_the_value_real_aws_returned():
    assert md5_hex('{"foo":20}') == "d6cf0f93237ada70daf9b6e75cfff2e6"
    assert md5_hex("hello") == "5d41402abc4b2a76b9719d911017c592"


def test_attribute_encoding_matches_the_bytes_real_aws_hashed():
    attrs = {"baz": {"DataType": "String", "StringValue": "qux"}}
    assert encode_message_attributes(attrs).hex(" ") == \
        "00 00 00 03 62 61 7a 00 00 00 06 53 74 72 69 6e 67 01 00 00 00 03 71 75 78"
    assert md5_of_message_attributes(attrs) == "16bd0283a5b4962721ccd3efe4bc6257"


def test_attribute_digest_sorts_names_and_uses_transport_byte_2_for_binary():
    attrs = {"color": {"DataType": "String", "StringValue": "red"}, "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}}
    assert encode_message_attributes(attrs).hex(" ") == (
        "00 00 00 04 62 6c 6f 62 00 00 00 06 42 69 6e 61 72 79 02 00 00 00 02 01 02 "
        "00 00 00 05 63 6f 6c 6f 72 00 00 00 06 53 74 72 69 6e 67 01 00 00 00 03 72 65 64")
    assert md5_of_message_attributes(attrs) == "91f9ac87a8bc861db56c4990eee729a5"


@pytest.mark.parametrize("attrs, digest", [
    ({"k": {"DataType": "String", "StringValue": "v"}}, "0a77b0642718c3d9dd47090567d11e0d"),
    ({"n": {"DataType": "Number", "StringValue": "42"}}, "30e7543857de47826ea2a48bbec32fd7"),
    ({"img": {"DataType": "Binary.png", "BinaryValue": b"\x89PNG"}}, "f9924c8d10e71ae4da6cf44b2286a5f5"),
    ({"tags": {"DataType": "String.list", "StringListValues": ["a", "b"]}}, "131d463dd95a6d8ff0e67a57d305a137"),
], ids=["string", "number", "binary-custom-type", "string-list"])
def test_attribute_digest_vectors(attrs, digest):
    assert md5_of_message_attributes(attrs) == digest
