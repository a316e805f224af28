"""A command on a real two-node Ray cluster on this machine (ray.cluster_utils.Cluster),
as its own process: the tests' process may hold a local Ray of its own. The command gets
the cluster's address in RAY_ADDRESS and in place of each `{address}` argument. Prints,
as JSON, its exit code and output, the cluster's nodes, and where things ran (from Ray's
state API, which the head's dashboard serves): the nodes of each actor class and of each
task name.

    python -m tests.two_nodes CPUS_PER_NODE COMMAND...
"""

import json
import os
import subprocess
import sys
from collections import defaultdict

import ray
from ray.cluster_utils import Cluster
from ray.util.state import list_actors, list_tasks

DASHBOARD_PORT = 8393  # fixed: the state API is asked at it; one such test at a time


def main(cpus_per_node: str, *command: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": int(cpus_per_node), "include_dashboard": True,
        "dashboard_port": DASHBOARD_PORT})
    cluster.add_node(num_cpus=int(cpus_per_node))
    cluster.wait_for_nodes()
    try:
        done = subprocess.run([cluster.address if a == "{address}" else a for a in command],
                              capture_output=True, text=True, timeout=900,
                              env=os.environ | {"RAY_ADDRESS": cluster.address})
        ray.init(address=cluster.address)
        actors, tasks = defaultdict(set), defaultdict(set)
        for actor in list_actors(address=cluster.address, limit=10000,
                                 raise_on_missing_output=False):
            actors[actor.class_name].add(actor.node_id)
        for task in list_tasks(address=cluster.address, limit=10000,
                               raise_on_missing_output=False):
            tasks[task.name].add(task.node_id)
        print(json.dumps({"returncode": done.returncode, "stdout": done.stdout,
                          "stderr": done.stderr[-3000:],
                          "nodes": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
                          "actor_nodes": {k: sorted(v) for k, v in actors.items()},
                          "task_nodes": {k: sorted(v) for k, v in tasks.items()}}))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
