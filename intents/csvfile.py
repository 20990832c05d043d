"""Open a user's UTF-8 CSV with lower-cased headers; file and format problems become one polite error."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def open_csv(path: Path, error: type[Exception]) -> Iterator[csv.DictReader[str]]:
    """Yield a DictReader with stripped, lower-case field names; raise ``error`` with a bilingual message."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            columns = [(c or "").strip().lower() for c in reader.fieldnames or []]
            if not columns:
                raise error(f"{path}: empty CSV (no header row) / 文件为空")
            reader.fieldnames = columns
            yield reader
    except FileNotFoundError:
        raise error(f"{path}: file not found / 文件不存在") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory / 是目录") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 ({exc.reason}) / 不是 UTF-8 编码") from None
    except csv.Error as exc:
        raise error(f"{path}: malformed CSV ({exc}) / CSV 格式错误") from None

