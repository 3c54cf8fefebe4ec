from concurrent.futures import ThreadPoolExecutor

import pytest

from elms.core.datafiles import create_once


def test_the_first_writer_wins_and_everyone_reads_the_same_whole_content(tmp_path):
    path = tmp_path / "secret"
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(lambda i: create_once(path, f"content-{i}".encode()), range(32)))
    assert len(set(seen)) == 1 and seen[0].startswith(b"content-")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_an_empty_file_is_refused_rather_than_used(tmp_path):
    (tmp_path / "secret").write_text("")
    with pytest.raises(RuntimeError):
        create_once(tmp_path / "secret", b"new")
