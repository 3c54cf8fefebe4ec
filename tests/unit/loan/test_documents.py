import pytest

from elms.loan.documents import display_name, sniff_mime_type


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"%PDF-1.4 ...", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0..JFIF", "image/jpeg"),
        (b"GIF89a", None),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_files_are_recognised_by_their_first_bytes_only(head, mime):
    assert sniff_mime_type(head) == mime


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\pay slip.pdf", "pay slip.pdf"),
        ("a\x00b<script>.pdf", "a_b_script_.pdf"),
        ("", "document.pdf"),
        (None, "document.pdf"),
        ("....", "document.pdf"),
    ],
)
def test_client_file_names_become_harmless_labels(name, shown):
    assert display_name(name, "application/pdf") == shown
