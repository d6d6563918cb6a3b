"""Fill the generated tables of docs/models.md from the catalogs, so each figure is stated once.

python -m tools.models_doc          # rewrite docs/models.md
python -m tools.models_doc --check  # exit 1 if it is out of date (tests/tools run this check)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from lib.fit import ServingRequest, fit_table
from lib.gpu_sizes import gpu_table
from lib.models import catalog_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "models.md"
# The defaults the fit table assumes: settings' DEFAULT_VLLM (32k context, 16 sequences, 0.9).
TABLE_REQUEST = ServingRequest(max_model_len=32768, max_num_seqs=16, gpu_memory_utilization=0.9)


def tables() -> dict[str, str]:
    return {"catalog": catalog_table(), "gpus": gpu_table(), "fit": fit_table(TABLE_REQUEST)}


def render(text: str) -> str:
    """``text`` with every ``<!-- generated:NAME ... -->`` block refilled."""
    for name, table in tables().items():
        pattern = re.compile(
            rf"(<!-- generated:{name}\b[^>]*-->\n)(.*?)(<!-- /generated:{name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"docs/models.md has no generated:{name} block")
        text = pattern.sub(lambda match, t=table: f"{match.group(1)}{t}\n{match.group(3)}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fill the generated tables of docs/models.md.")
    parser.add_argument("--check", action="store_true", help="fail if docs/models.md is stale")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = render(current)
    if args.check:
        if current != wanted:
            print("docs/models.md is out of date: run python -m tools.models_doc", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
