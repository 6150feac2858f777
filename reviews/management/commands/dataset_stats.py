from django.core.management.base import BaseCommand, CommandError

from modeling.data import DataSourceError, describe
from modeling.encoders import load_tokenizer
from reviews.conf import conf
from reviews.data import load

STATS = ("min", "median", "mean", "p95", "max")


class Command(BaseCommand):
    help = "Print rows, label balance, lengths (characters, words, tokens) and HTML counts per split."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=None, help="data source (default: SENTIMENT_DATA_SOURCE)")
        parser.add_argument("--seed", type=int, default=None, help="split seed (default: SENTIMENT_DATA_SEED)")
        parser.add_argument("--base-model", default=None, help="tokenizer for token counts (default: SENTIMENT_BASE_MODEL)")
        parser.add_argument("--no-tokens", action="store_true", help="skip token counts (no tokenizer needed)")

    def handle(self, *args, data, seed, base_model, no_tokens, **options):
        source = data or conf.data.source
        try:
            dataset = load(source, seed=seed)
        except DataSourceError as exc:
            raise CommandError(str(exc)) from None
        tokenizer = None if no_tokens else load_tokenizer(base_model or conf.data.base_model)
        stats = describe(dataset, tokenizer=tokenizer)
        out = self.stdout
        out.write(f"data source: {source}")
        out.write(f"{'split':<11} {'rows':>7} {'negative':>9} {'positive':>9} {'with HTML':>10}  sha256")
        for name, s in stats.items():
            html = "?" if s["html_rows"] is None else s["html_rows"]
            out.write(
                f"{name:<11} {s['rows']:>7} {s['labels']['negative']:>9} {s['labels']['positive']:>9} "
                f"{html:>10}  {s['sha256'][:16]}"
            )
        out.write("")
        out.write(f"{'split':<11} {'length':<7} " + " ".join(f"{k:>8}" for k in STATS))
        for name, s in stats.items():
            for unit in ("chars", "words", "tokens"):
                if unit in s:
                    out.write(f"{name:<11} {unit:<7} " + " ".join(f"{s[unit][k]:>8.0f}" for k in STATS))
