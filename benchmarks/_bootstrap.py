"""What every benchmark script needs before it imports the project: the repository on the path,
the Django settings module, and no waiting on the Hugging Face hub."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentiment_site.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
