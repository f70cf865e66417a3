"""Parse a Prometheus text exposition (stdin) with the reference parser,
prometheus_client's, for tests/metrics.rs: prints JSON, one object per
sample: {"name", "labels", "value"}. A malformed exposition fails here."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    samples = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        for s in family.samples:
            samples.append({"name": s.name, "labels": s.labels, "value": s.value})
    print(json.dumps(samples))


if __name__ == "__main__":
    main()
