"""A step's own process: `python -m bench child STEP ARGS.json RESULT.json` (see `harness.run_step`)."""

import sys

from bench import pipeline, search
from bench.harness import child_main

#: Every step the bench runs in a process of its own, by the name `harness.run_step` is given.
STEPS = {
    "corpus": pipeline.step_corpus, "ingest": pipeline.step_ingest, "build": pipeline.step_build,
    "zip": pipeline.step_zip, "rebuild": pipeline.step_rebuild, "web_archive": pipeline.step_web_archive,
    "web_archive_read": pipeline.step_web_archive_read,
    "whoosh": search.step_whoosh, "cli_queries": search.step_cli_queries, "cli_cold": search.step_cli_cold,
    "browser": search.step_browser, "browser_bytes": search.step_browser_bytes,
}

if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        sys.exit(child_main(STEPS, sys.argv[2:]))
    sys.exit("usage: python -m bench child STEP ARGS.json RESULT.json (see `invoke bench`)")
