"""`python -m support.process_node` (with tests/ on PYTHONPATH): run the process node until SIGTERM.

    --kubeconfig FILE  --node NAME  --images FILE (JSON: image -> command prefix)  --log-dir DIR

Prints "ready" once the Node is registered; logs what it starts and stops to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from kubernetes import config

from support.process_node.agent import ProcessNode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="process-node")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--images", required=True, type=Path)
    parser.add_argument("--log-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the readiness probes, several a second
    api = config.new_client_from_config(config_file=args.kubeconfig)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    node = ProcessNode(api, args.node, json.loads(args.images.read_text()), args.log_dir)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        node.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    node.register()
    print("ready", flush=True)
    node.run()
    node.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
